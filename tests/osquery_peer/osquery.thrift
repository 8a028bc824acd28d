// The Thrift interface between osquery core (osqueryd/osqueryi, the
// ExtensionManager) and its extensions, for postern's C++ osquery peer
// (core.cpp in this directory).
//
// Written for this project from osquery's protocol: every struct field id,
// type and name, every method name and argument id below matches
// osquery 5.x (osquery/extensions/thrift/osquery.thrift), so the code that
// `thrift --gen cpp` makes from this file puts the same bytes on the wire as
// osqueryd does. Only the names and numbers are osquery's; change none of them.

namespace cpp osquery.extensions

// A registry call: request and response of a plugin (table, config, logger...).
typedef map<string, string> ExtensionPluginRequest
typedef list<map<string, string>> ExtensionPluginResponse

// One osquery option (command-line flag), as options() returns it.
struct InternalOptionInfo {
  1: string value,
  2: string default_value,
  3: string type,
}

// Option name -> its value, default and type.
typedef map<string, InternalOptionInfo> InternalOptionList

// What an extension says about itself when it registers.
struct InternalExtensionInfo {
  1: string name,
  2: string version,
  3: string sdk_version,
  4: string min_sdk_version,
}

// The id osquery gives a registered extension; it serves on <socket>.<uuid>.
typedef i64 ExtensionRouteUUID
// Plugin name -> its route (for a table: one row per column).
typedef map<string, ExtensionPluginResponse> ExtensionRouteTable
// Registry name ("table", "config", "logger", ...) -> its plugins.
typedef map<string, ExtensionRouteTable> ExtensionRegistry
// Registered extensions by uuid.
typedef map<ExtensionRouteUUID, InternalExtensionInfo> InternalExtensionList

enum ExtensionCode {
  EXT_SUCCESS = 0,
  EXT_FAILED = 1,
  EXT_FATAL = 2,
}

// The status every call returns.
struct ExtensionStatus {
  1: i32 code,
  2: string message,
  3: ExtensionRouteUUID uuid,
}

struct ExtensionResponse {
  1: ExtensionStatus status,
  2: ExtensionPluginResponse response,
}

exception ExtensionException {
  1: i32 code,
  2: string message,
  3: ExtensionRouteUUID uuid,
}

// Served by every extension on <manager socket>.<uuid> (and by the core).
service Extension {
  ExtensionStatus ping(),
  ExtensionResponse call(
    1: string registry,
    2: string item,
    3: ExtensionPluginRequest request),
  void shutdown(),
}

// Served by osquery core on the manager socket (osquery.em).
service ExtensionManager extends Extension {
  InternalExtensionList extensions(),
  InternalOptionList options(),
  ExtensionStatus registerExtension(
    1: InternalExtensionInfo info,
    2: ExtensionRegistry registry),
  ExtensionStatus deregisterExtension(
    1: ExtensionRouteUUID uuid),
  ExtensionResponse query(
    1: string sql),
  ExtensionResponse getQueryColumns(
    1: string sql),
}
