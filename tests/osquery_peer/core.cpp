/*
 * osquery_core: a strict stand-in for osquery core (osqueryd) in postern's
 * end-to-end tests, built on the C++ Thrift stack osqueryd links (Apache
 * Thrift 0.17: TThreadedServer, TBufferedTransport, TBinaryProtocol over Unix
 * sockets) from the IDL in osquery.thrift beside this file.
 *
 * osqueryd cannot be installed where the tests run, so the tests play it.
 * tests/e2e/fake_osquery.py does that in Python and is lenient (it accepted
 * an sdk_version osquery refuses). This program follows osquery 5.x instead,
 * rule for rule, ported from its sources:
 *   - registerExtension: osquery/extensions/interface.cpp (order of checks,
 *     messages, uuids), osquery/registry/registry_factory.cpp (addBroadcast),
 *     osquery/utils/info/version.cpp (versionAtLeast), TablePlugin::addExternal
 *     ("Invalid route info" for a table without columns);
 *   - the watcher: ExtensionManagerWatcher in osquery/extensions/extensions.cpp
 *     (a new connection per ping, one failed ping removes the extension);
 *   - calls: callExtension in extensions.cpp (a ping on one new connection,
 *     then the call on another), clients as in impl_thrift.cpp.
 *
 * Subcommands (run without arguments for the flags):
 *   serve     serve ExtensionManager on --socket, watch registered extensions,
 *             start the extensions an --extensions-autoload file names;
 *             test hooks: --state FILE (JSON, rewritten on every change),
 *             SIGUSR1 (forget every registration), SIGTERM (go away).
 *   call      call a plugin of a registered extension as osquery does.
 *   register  register a fake extension (to test the rules above).
 *   ping      ping one socket.
 *
 * Where this program departs from osquery, a comment says so.
 */

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glob.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <thrift/TOutput.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/server/TThreadedServer.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TServerSocket.h>
#include <thrift/transport/TSocket.h>

#include "Extension.h"
#include "ExtensionManager.h"

namespace ext = osquery::extensions;
using apache::thrift::GlobalOutput;
using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::protocol::TBinaryProtocolFactory;
using apache::thrift::server::TServerEventHandler;
using apache::thrift::server::TThreadedServer;
using apache::thrift::transport::TBufferedTransport;
using apache::thrift::transport::TBufferedTransportFactory;
using apache::thrift::transport::TServerSocket;
using apache::thrift::transport::TSocket;

namespace {

// ---------------------------------------------------------------------------
// JSON output (strings only need escaping; no JSON library is needed).

// Length of the well-formed UTF-8 sequence (RFC 3629) that starts at s[i],
// or 0 when the bytes there are not one.
size_t utf8Length(const std::string& s, size_t i) {
  auto at = [&s](size_t k) {
    return k < s.size() ? static_cast<int>(static_cast<unsigned char>(s[k])) : -1;
  };
  const int b0 = at(i);
  size_t n = 0;
  int lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no UTF-16 surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlong forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  const int b1 = at(i + 1);
  if (b1 < lo || b1 > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    const int b = at(i + k);
    if (b < 0x80 || b > 0xBF) return 0;
  }
  return n;
}

// A JSON string literal for s. Thrift strings are bytes: bytes that are not
// UTF-8 become U+FFFD so the output is always valid JSON.
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = utf8Length(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s, i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  return out + "\"";
}

// Builds one JSON object, member by member, in insertion order.
class Json {
 public:
  Json& raw(const std::string& key, const std::string& json) {
    body_ += (body_.size() > 1 ? "," : "") + quote(key) + ":" + json;
    return *this;
  }
  Json& str(const std::string& key, const std::string& value) {
    return raw(key, quote(value));
  }
  Json& num(const std::string& key, long long value) {
    return raw(key, std::to_string(value));
  }
  Json& flag(const std::string& key, bool value) {
    return raw(key, value ? "true" : "false");
  }
  std::string text() const { return body_ + "}"; }

 private:
  std::string body_ = "{";
};

std::string stringMap(const std::map<std::string, std::string>& m) {
  Json j;
  for (const auto& kv : m) j.str(kv.first, kv.second);
  return j.text();
}

std::string rows(const ext::ExtensionPluginResponse& response) {
  std::string out = "[";
  for (const auto& row : response) {
    out += (out.size() > 1 ? "," : "") + stringMap(row);
  }
  return out + "]";
}

// ---------------------------------------------------------------------------
// osquery's SDK version rule (osquery/utils/info/version.cpp).

// osquery::split(s, "."): split on the delimiter, drop empty pieces, then trim
// whitespace off each piece (osquery/utils/conversions/split.cpp).
std::vector<std::string> osquerySplit(const std::string& s, char delim) {
  std::vector<std::string> pieces;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(delim, start);
    std::string piece =
        s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!piece.empty()) {
      size_t a = 0, b = piece.size();
      while (a < b && std::isspace(static_cast<unsigned char>(piece[a]))) ++a;
      while (b > a && std::isspace(static_cast<unsigned char>(piece[b - 1]))) --b;
      pieces.push_back(piece.substr(a, b - a));
    }
    if (end == std::string::npos) return pieces;
    start = end + 1;
  }
}

// True when `sdk` is at least `v`, exactly as osquery decides it: "0.0.0" on
// either side passes; components compare as integers (std::stoi, so "7abc" is
// 7); a component that is not a number compares as a string; a shorter or
// equal sdk passes. std::out_of_range is not caught, as in osquery: the Thrift
// processor then answers registerExtension with a TApplicationException.
bool versionAtLeast(const std::string& v, const std::string& sdk) {
  if (v == "0.0.0" || sdk == "0.0.0") return true;
  const auto required = osquerySplit(v, '.');
  const auto build = osquerySplit(sdk, '.');
  size_t index = 0;
  for (const auto& chunk : build) {
    if (required.size() <= index) return true;
    try {
      if (std::stoi(chunk) < std::stoi(required[index])) return false;
      if (std::stoi(chunk) > std::stoi(required[index])) return true;
    } catch (const std::invalid_argument&) {
      if (chunk.compare(required[index]) < 0) return false;
    }
    index++;
  }
  return true;
}

// osquery/extensions/interface.cpp: every registration must pass each.
const std::vector<std::string> kSDKVersionChanges = {"1.7.7"};

// ---------------------------------------------------------------------------
// osquery core's registries and a sample of its own plugins.

// Every registry osqueryd creates (CREATE_REGISTRY / CREATE_LAZY_REGISTRY in
// its sources); a broadcast naming another one is refused.
const std::set<std::string> kRegistries = {
    "config",          "config_parser", "database",   "distributed",
    "enroll",          "event_publisher", "event_subscriber", "killswitch",
    "logger",          "numeric_monitoring", "sql",   "table"};

// Plugins osqueryd itself provides (a sample: real osqueryd has ~280 tables);
// an extension broadcasting one of these names is refused as a duplicate.
const std::map<std::string, std::set<std::string>> kCorePlugins = {
    {"config", {"filesystem", "tls"}},
    {"distributed", {"tls"}},
    {"logger", {"filesystem", "stdout", "syslog", "tls"}},
    {"table",
     {"deb_packages", "file", "groups", "hash", "interface_addresses",
      "kernel_info", "listening_ports", "logged_in_users", "mounts",
      "os_version", "osquery_extensions", "osquery_flags", "osquery_info",
      "osquery_registry", "process_open_sockets", "processes", "rpm_packages",
      "system_info", "time", "uptime", "users"}},
};

// ---------------------------------------------------------------------------
// Client connections, opened as osquery's ExtensionClientCore opens them.

int toMillis(double seconds) {
  return static_cast<int>(std::lround(seconds * 1000.0));
}

bool pathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// One new connection: TSocket on a Unix path, TBufferedTransport,
// TBinaryProtocol, send and receive timeouts, closed when it goes out of
// scope. osquery leaves the connect timeout unset (blocking connect); here it
// equals the other timeouts so that no wait is unbounded.
template <class Client>
class Connection {
 public:
  Connection(const std::string& path, double timeout_secs)
      : socket_(std::make_shared<TSocket>(path)),
        transport_(std::make_shared<TBufferedTransport>(socket_)),
        client_(std::make_shared<TBinaryProtocol>(transport_)) {
    const int ms = toMillis(timeout_secs);
    socket_->setConnTimeout(ms);
    socket_->setRecvTimeout(ms);
    socket_->setSendTimeout(ms);
    transport_->open();
  }
  ~Connection() {
    try {
      transport_->close();
    } catch (const std::exception&) {
      // The peer may already be gone: nothing to close.
    }
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Client* operator->() { return &client_; }

 private:
  std::shared_ptr<TSocket> socket_;
  std::shared_ptr<TBufferedTransport> transport_;
  Client client_;
};

// osquery's extensionPathActive(path, true): wait (20 ms steps, at least
// 200 ms in all) until the socket exists and answers a ping (10 s timeout)
// without a transport error; the ping's status is not looked at.
bool extensionPathActive(const std::string& path, double timeout_secs) {
  using Clock = std::chrono::steady_clock;
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(std::max(200, toMillis(timeout_secs)));
  do {
    if (pathExists(path)) {
      try {
        Connection<ext::ExtensionManagerClient> c(path, 10);
        ext::ExtensionStatus ignored;
        c->ping(ignored);
        return true;
      } catch (const std::exception&) {
        // The path may exist without a server behind it yet.
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (Clock::now() < deadline);
  return false;
}

// ---------------------------------------------------------------------------
// The extension manager: registrations, their rules, the state file.

struct Registration {
  ext::InternalExtensionInfo info;
  ext::ExtensionRegistry registry;
  bool watched = true;   // false for --preregister: it has no socket to ping
  bool checked = false;  // the watcher has looked at it (osquery's failures_)
  long long pings = 0;   // watcher pings answered
};

struct WatchOptions {
  double interval;             // --interval (osquery: --extensions_interval)
  double ping_timeout;         // --ping-timeout (osquery: --thrift_timeout)
  double extensions_timeout;   // --extensions-timeout (osquery: same name)
};

class Core {
 public:
  Core(std::string socket, std::string state_path)
      : socket_(std::move(socket)), state_path_(std::move(state_path)) {}

  // registerExtension, in osquery's order: duplicate name, SDK version, then
  // the registry broadcast (duplicate plugin, unknown registry, table routes).
  ext::ExtensionStatus registerExtension(const ext::InternalExtensionInfo& info,
                                         const ext::ExtensionRegistry& registry,
                                         bool watched) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& e : extensions_) {
      if (e.second.info.name == info.name) {
        return refuse(info, "Duplicate extension registered");
      }
    }
    for (const auto& change : kSDKVersionChanges) {
      if (!versionAtLeast(change, info.sdk_version)) {
        return refuse(info, "Incompatible extension SDK version");
      }
    }
    const int64_t uuid = newUuid();
    const std::string broadcast_error = addBroadcast(registry);
    if (!broadcast_error.empty()) {
      uuids_.erase(static_cast<uint16_t>(uuid));
      return refuse(info, "Failed adding registry: " + broadcast_error);
    }
    Registration r;
    r.info = info;
    r.registry = registry;
    r.watched = watched;
    extensions_[uuid] = r;
    event(Json().str("event", "registered").str("name", info.name).num("uuid", uuid).text());
    save();
    ext::ExtensionStatus status;
    status.code = ext::ExtensionCode::EXT_SUCCESS;
    status.message = "OK";
    status.uuid = uuid;
    return status;
  }

  // deregisterExtension: on success osquery answers with the manager's own
  // uuid (0), on failure with "No extension UUID found".
  ext::ExtensionStatus deregisterExtension(int64_t uuid) {
    std::lock_guard<std::mutex> lock(mutex_);
    const bool known = extensions_.erase(uuid) > 0;
    if (known) uuids_.erase(static_cast<uint16_t>(uuid));
    event(Json().str("event", "deregistered").num("uuid", uuid).flag("known", known).text());
    save();
    ext::ExtensionStatus status;
    status.code = known ? ext::ExtensionCode::EXT_SUCCESS : ext::ExtensionCode::EXT_FAILED;
    status.message = known ? "OK" : "No extension UUID found";
    status.uuid = 0;
    return status;
  }

  ext::InternalExtensionList extensions() {
    std::lock_guard<std::mutex> lock(mutex_);
    ext::InternalExtensionList list;
    for (const auto& e : extensions_) list[e.first] = e.second.info;
    return list;
  }

  // Test hook (SIGUSR1): osquery dropped every extension.
  void forgetAll() {
    std::lock_guard<std::mutex> lock(mutex_);
    extensions_.clear();
    uuids_.clear();
    event(Json().str("event", "forgot_all").text());
    save();
  }

  // osquery's ExtensionManagerWatcher: check, then pause, for ever.
  void watchForever(const WatchOptions& options) {
    // osquery's ExtensionWatcher never waits less than 200 ms.
    const int pause_ms = std::max(200, toMillis(options.interval));
    while (true) {
      watchOnce(options);
      std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
    }
  }

  void writeState() {
    std::lock_guard<std::mutex> lock(mutex_);
    save();
  }

  // Records an event from outside the manager (the autoloader).
  void note(const std::string& json) {
    std::lock_guard<std::mutex> lock(mutex_);
    event(json);
    save();
  }

 private:
  // One pass of the watcher. Each extension is pinged on a new connection to
  // <socket>.<uuid>; one failure (no socket, transport error or timeout, or
  // status EXT_FAILED) removes it at once. The first time an extension is
  // looked at, a missing socket gets --extensions-timeout to appear.
  void watchOnce(const WatchOptions& options) {
    std::vector<int64_t> uuids;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& e : extensions_) {
        if (e.second.watched) uuids.push_back(e.first);
      }
    }
    for (const int64_t uuid : uuids) {
      bool first;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = extensions_.find(uuid);
        if (it == extensions_.end()) continue;
        first = !it->second.checked;
        it->second.checked = true;
      }
      const std::string path = socket_ + "." + std::to_string(uuid);
      bool available = pathExists(path);
      if (!available && first) {
        available = extensionPathActive(path, options.extensions_timeout);
      }
      std::string why;
      if (!available) {
        why = "Extension socket not available: " + path;
      } else {
        try {
          Connection<ext::ExtensionClient> c(path, options.ping_timeout);
          ext::ExtensionStatus status;
          c->ping(status);
          // osquery's ExtensionClient::ping fails only on EXT_FAILED.
          if (status.code == ext::ExtensionCode::EXT_FAILED) {
            why = "ping answered EXT_FAILED: " + status.message;
          }
        } catch (const std::exception& e) {
          why = e.what();
        }
      }

      std::lock_guard<std::mutex> lock(mutex_);
      auto it = extensions_.find(uuid);
      if (it == extensions_.end()) continue;  // deregistered meanwhile
      if (why.empty()) {
        it->second.pings++;
      } else {
        extensions_.erase(it);
        uuids_.erase(static_cast<uint16_t>(uuid));
        event(Json().str("event", "ping_failed").num("uuid", uuid).str("why", why).text());
      }
      save();
    }
  }

  // osquery's UuidGenerator: static_cast<uint16_t>(rand() + 1), drawn again
  // while taken. (Computed unsigned: rand() + 1 overflows int at RAND_MAX.)
  int64_t newUuid() {
    uint16_t uuid;
    do {
      uuid = static_cast<uint16_t>(static_cast<unsigned>(std::rand()) + 1u);
    } while (uuids_.count(uuid) > 0);
    uuids_.insert(uuid);
    return uuid;
  }

  // Does a plugin of that name exist in that registry (osquery's own or a
  // registered extension's)?
  bool pluginExists(const std::string& registry, const std::string& item) const {
    if (kRegistries.count(registry) == 0) return false;
    auto core = kCorePlugins.find(registry);
    if (core != kCorePlugins.end() && core->second.count(item) > 0) return true;
    for (const auto& e : extensions_) {
      auto reg = e.second.registry.find(registry);
      if (reg != e.second.registry.end() && reg->second.count(item) > 0) return true;
    }
    return false;
  }

  // RegistryFactory::addBroadcast and TablePlugin::addExternal: "" when the
  // broadcast is accepted, else osquery's reason. osquery checks duplicates
  // over the whole broadcast first, then each registry in name order.
  // (osquery leaves the plugins of registries before an unknown one in its
  // registry by mistake; this peer does not reproduce that leak.)
  std::string addBroadcast(const ext::ExtensionRegistry& broadcast) const {
    for (const auto& registry : broadcast) {
      for (const auto& item : registry.second) {
        if (pluginExists(registry.first, item.first)) {
          return "Duplicate registry item: " + item.first;
        }
      }
    }
    for (const auto& registry : broadcast) {
      if (kRegistries.count(registry.first) == 0) {
        return "Unknown registry: " + registry.first;
      }
      if (registry.first != "table") continue;
      for (const auto& table : registry.second) {
        // Tables must broadcast their columns.
        if (table.second.empty()) return "Invalid route info";
      }
    }
    return "";
  }

  ext::ExtensionStatus refuse(const ext::InternalExtensionInfo& info, const std::string& why) {
    event(Json().str("event", "refused").str("name", info.name).str("why", why).text());
    save();
    ext::ExtensionStatus status;
    status.code = ext::ExtensionCode::EXT_FAILED;
    status.message = why;
    status.uuid = 0;
    return status;
  }

  // Records an event (caller holds the lock) and logs it on stderr.
  void event(const std::string& json) {
    events_.push_back(json);
    std::cerr << "osquery_core: " << json << std::endl;
  }

  // Rewrites the state file atomically (caller holds the lock):
  // {"extensions": {uuid: {"info": {...}, "registry": {...}, "pings": N}},
  //  "events": [...]}
  void save() const {
    if (state_path_.empty()) return;
    Json exts;
    for (const auto& e : extensions_) {
      const auto& info = e.second.info;
      Json registry;
      for (const auto& reg : e.second.registry) {
        Json items;
        for (const auto& item : reg.second) items.raw(item.first, rows(item.second));
        registry.raw(reg.first, items.text());
      }
      exts.raw(std::to_string(e.first),
               Json()
                   .raw("info", Json()
                                    .str("name", info.name)
                                    .str("version", info.version)
                                    .str("sdk_version", info.sdk_version)
                                    .str("min_sdk_version", info.min_sdk_version)
                                    .text())
                   .raw("registry", registry.text())
                   .num("pings", e.second.pings)
                   .text());
    }
    std::string events = "[";
    for (const auto& ev : events_) events += (events.size() > 1 ? "," : "") + ev;
    events += "]";
    const std::string text =
        Json().raw("extensions", exts.text()).raw("events", events).text() + "\n";

    const std::string tmp = state_path_ + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    bool ok = f != nullptr && std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (f != nullptr) ok = (std::fclose(f) == 0) && ok;
    if (!ok || std::rename(tmp.c_str(), state_path_.c_str()) != 0) {
      std::cerr << "osquery_core: cannot write " << state_path_ << ": "
                << std::strerror(errno) << std::endl;
    }
  }

  const std::string socket_;
  const std::string state_path_;
  std::mutex mutex_;
  std::map<int64_t, Registration> extensions_;
  std::set<uint16_t> uuids_;
  std::vector<std::string> events_;
};

// The ExtensionManager service, answering as osquery's
// ExtensionManagerHandler (osquery/extensions/impl_thrift.cpp) does.
class ManagerHandler : public ext::ExtensionManagerIf {
 public:
  explicit ManagerHandler(Core& core) : core_(core) {}

  void ping(ext::ExtensionStatus& _return) override {
    _return.code = ext::ExtensionCode::EXT_SUCCESS;
    _return.message = "pong";
    _return.uuid = 0;
  }

  // osquery would run its own plugin (or forward to the extension owning
  // it); this peer runs none, so it answers as osquery does for a plugin it
  // does not have.
  void call(ext::ExtensionResponse& _return,
            const std::string& registry,
            const std::string& item,
            const ext::ExtensionPluginRequest& /* request */) override {
    _return.status.code = ext::ExtensionCode::EXT_FAILED;
    _return.status.message = kRegistries.count(registry) > 0
                                 ? "Cannot call registry item: " + item
                                 : "Unknown registry requested: " + registry;
    _return.status.uuid = 0;
  }

  // osquery's manager ignores shutdown requests.
  void shutdown() override {}

  void extensions(ext::InternalExtensionList& _return) override {
    _return = core_.extensions();
  }

  // The options an extension SDK reads after registering.
  void options(ext::InternalOptionList& _return) override {
    auto set = [&_return](const std::string& name, const std::string& value) {
      _return[name].value = value;
      _return[name].default_value = value;
      _return[name].type = "string";
    };
    set("config_plugin", "filesystem");
    set("logger_plugin", "filesystem");
    set("distributed_plugin", "tls");
  }

  void registerExtension(ext::ExtensionStatus& _return,
                         const ext::InternalExtensionInfo& info,
                         const ext::ExtensionRegistry& registry) override {
    _return = core_.registerExtension(info, registry, true);
  }

  void deregisterExtension(ext::ExtensionStatus& _return,
                           const ext::ExtensionRouteUUID uuid) override {
    _return = core_.deregisterExtension(uuid);
  }

  // No SQL engine here: every query succeeds with no rows.
  void query(ext::ExtensionResponse& _return, const std::string& /* sql */) override {
    _return.status.code = ext::ExtensionCode::EXT_SUCCESS;
    _return.status.message = "OK";
  }

  void getQueryColumns(ext::ExtensionResponse& _return,
                       const std::string& /* sql */) override {
    _return.status.code = ext::ExtensionCode::EXT_SUCCESS;
    _return.status.message = "OK";
  }

 private:
  Core& core_;
};

// Prints "ready" once the server socket listens.
class ReadyPrinter : public TServerEventHandler {
 public:
  void preServe() override { std::cout << "ready" << std::endl; }
};

// ---------------------------------------------------------------------------
// Autoload, as osqueryd's loadExtensions/isFileSafe/safePermissions
// (osquery/extensions/extensions.cpp, osquery/filesystem/filesystem.cpp):
// one path per line, '#' and ';' start comments, a directory line stands for
// the files in it; a path must exist, end in ".ext", and be safe: its
// directory without the sticky bit, the file not world-writable, owned by
// root or by this process's user, with the owner-exec bit. A safe file is
// started as `<path> --socket <manager> --timeout <s> --interval <s>` with
// OSQUERY_EXTENSION=<pid>. Departure: osquery's watcher restarts an
// extension that exits; here each is started once (the tests look at one
// life).


bool autoloadSafe(const std::string& path, std::string& why) {
  struct stat file_stat, link_stat, dir_stat;
  const std::string dir = path.substr(0, path.find_last_of('/') == std::string::npos
                                             ? 0
                                             : path.find_last_of('/'));
  if (::lstat(path.c_str(), &link_stat) != 0 || ::stat(path.c_str(), &file_stat) != 0 ||
      ::stat(dir.empty() ? "." : dir.c_str(), &dir_stat) != 0) {
    why = "Cannot stat";
    return false;
  }
  if (dir_stat.st_mode & S_ISVTX) {
    why = "Will not autoload extension with unsafe directory permissions";
    return false;
  }
  if (S_ISREG(file_stat.st_mode) && (file_stat.st_mode & S_IWOTH)) {
    why = "Extension binary has unsafe permissions";
    return false;
  }
  if (file_stat.st_uid != ::getuid() && file_stat.st_uid != 0) {
    why = "Extension binary has unsafe permissions";
    return false;
  }
  if (!(file_stat.st_mode & S_IXUSR)) {
    why = "Extension binary has unsafe permissions";
    return false;
  }
  return true;
}

void autoload(Core& core, const std::string& file, const std::string& socket,
              double timeout, double interval) {
  FILE* f = std::fopen(file.c_str(), "r");
  if (f == nullptr) {
    core.note(Json().str("event", "autoload").str("path", file).str("result", "refused")
                  .str("why", "Cannot read autoload file").text());
    return;
  }
  std::vector<std::string> paths;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, f) != nullptr) {
    std::string line(buf);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    size_t start = 0;
    while (start < line.size() && std::isspace(static_cast<unsigned char>(line[start]))) ++start;
    line = line.substr(start);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    struct stat st;
    if (::stat(line.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      glob_t g;
      if (::glob((line + "/*").c_str(), 0, nullptr, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; ++i) paths.push_back(g.gl_pathv[i]);
      }
      ::globfree(&g);
    } else {
      paths.push_back(line);
    }
  }
  std::fclose(f);
  const std::string pid = std::to_string(::getpid());
  const std::string osquery_env = "OSQUERY_EXTENSION=" + pid;
  for (const auto& path : paths) {
    std::string why;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      why = "Cannot autoload extension: does not exist";
    } else if (path.size() < 4 || path.compare(path.size() - 4, 4, ".ext") != 0) {
      why = "Will not autoload extension not ending in '.ext'";
    } else {
      autoloadSafe(path, why);
    }
    if (!why.empty()) {
      core.note(Json().str("event", "autoload").str("path", path).str("result", "refused")
                    .str("why", why).text());
      continue;
    }
    const std::string t = std::to_string(static_cast<int>(timeout));
    const std::string i = std::to_string(static_cast<int>(interval < 1 ? 1 : interval));
    std::vector<std::string> argv_s = {path, "--socket", socket, "--timeout", t, "--interval", i};
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(&a[0]);
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "OSQUERY_EXTENSION=", 18) != 0) env_s.push_back(*e);
    }
    env_s.push_back(osquery_env);
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(&e[0]);
    envp.push_back(nullptr);
    pid_t child = 0;
    const int rc = ::posix_spawn(&child, path.c_str(), nullptr, nullptr, argv.data(), envp.data());
    if (rc != 0) {
      core.note(Json().str("event", "autoload").str("path", path).str("result", "refused")
                    .str("why", std::string("spawn failed: ") + std::strerror(rc)).text());
      continue;
    }
    core.note(Json().str("event", "autoload").str("path", path).str("result", "started")
                  .num("pid", child).text());
  }
}

// ---------------------------------------------------------------------------
// Signals of `serve`. The handlers only call async-signal-safe functions.

char g_socket_path[256];  // the manager socket, removed on SIGTERM
int g_forget_pipe[2];     // SIGUSR1 writes a byte; a thread forgets all

extern "C" void onTerm(int) {
  ::unlink(g_socket_path);
  ::_exit(0);
}

extern "C" void onUsr1(int) {
  const int saved = errno;
  const char byte = 1;
  const ssize_t ignored = ::write(g_forget_pipe[1], &byte, 1);
  (void)ignored;
  errno = saved;
}

void installHandler(int sig, void (*handler)(int)) {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, nullptr);
}

// ---------------------------------------------------------------------------
// Command line.

[[noreturn]] void usage(const std::string& error) {
  if (!error.empty()) std::cerr << "osquery_core: " << error << "\n";
  std::cerr
      << "usage:\n"
         "  osquery_core serve --socket PATH [--state FILE] [--interval SECS=1]\n"
         "               [--preregister NAME] [--ping-timeout SECS=10]\n"
         "               [--extensions-timeout SECS=3] [--extensions-autoload FILE]\n"
         "  osquery_core call --socket MANAGER_PATH --uuid N --registry R --item NAME\n"
         "               [--request KEY=VALUE ...] [--timeout SECS=300]\n"
         "  osquery_core register --socket MANAGER_PATH --name N --version V\n"
         "               --sdk-version S [--table T ...] [--plugin REGISTRY:NAME ...]\n"
         "  osquery_core ping --socket PATH\n";
  std::exit(64);
}

// "--flag value" pairs; every flag takes one value and may repeat.
class Args {
 public:
  Args(int argc, char** argv, const std::set<std::string>& known) {
    for (int i = 2; i < argc; i += 2) {
      const std::string flag = argv[i];
      if (known.count(flag) == 0) usage("unknown flag " + flag);
      if (i + 1 >= argc) usage(flag + " needs a value");
      values_[flag].push_back(argv[i + 1]);
    }
  }

  std::string need(const std::string& flag) const {
    auto it = values_.find(flag);
    if (it == values_.end()) usage(flag + " is required");
    return it->second.back();
  }

  std::string get(const std::string& flag, const std::string& fallback) const {
    auto it = values_.find(flag);
    return it == values_.end() ? fallback : it->second.back();
  }

  std::vector<std::string> all(const std::string& flag) const {
    auto it = values_.find(flag);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
  }

  double seconds(const std::string& flag, double fallback) const {
    const std::string text = get(flag, "");
    if (text.empty()) return fallback;
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (*end != '\0' || !(value > 0) || value > 86400) {
      usage(flag + " needs a number of seconds");
    }
    return value;
  }

 private:
  std::map<std::string, std::vector<std::string>> values_;
};

// Prints {"error": message} and returns the exit code.
int fail(int code, const std::string& message) {
  std::cout << Json().str("error", message).text() << std::endl;
  return code;
}

std::string statusJson(const ext::ExtensionStatus& s) {
  return Json().num("code", s.code).str("message", s.message).num("uuid", s.uuid).text();
}

// ---------------------------------------------------------------------------
// Subcommands.

int serve(const Args& args) {
  const std::string socket = args.need("--socket");
  if (socket.size() >= sizeof g_socket_path) usage("--socket path is too long");
  std::strcpy(g_socket_path, socket.c_str());
  const WatchOptions watch{args.seconds("--interval", 1.0),
                           args.seconds("--ping-timeout", 10.0),
                           args.seconds("--extensions-timeout", 3.0)};

  std::srand(static_cast<unsigned>(std::time(nullptr)) ^ static_cast<unsigned>(::getpid()));

  // osquery removes the stale manager socket and every <socket>.* before it
  // starts its manager.
  ::unlink(socket.c_str());
  glob_t stale;
  if (::glob((socket + ".*").c_str(), 0, nullptr, &stale) == 0) {
    for (size_t i = 0; i < stale.gl_pathc; ++i) ::unlink(stale.gl_pathv[i]);
  }
  ::globfree(&stale);

  Core core(socket, args.get("--state", ""));
  const std::string preregister = args.get("--preregister", "");
  if (!preregister.empty()) {
    // Stands for a live extension already registered: never pinged.
    ext::InternalExtensionInfo info;
    info.name = preregister;
    info.version = "0";
    info.sdk_version = "0.0.0";
    info.min_sdk_version = "0.0.0";
    core.registerExtension(info, {}, false);
  }
  core.writeState();

  ::signal(SIGPIPE, SIG_IGN);
  if (::pipe(g_forget_pipe) != 0) {
    std::perror("osquery_core: pipe");
    return 1;
  }
  installHandler(SIGTERM, onTerm);
  installHandler(SIGUSR1, onUsr1);
  std::thread([&core] {
    char byte;
    while (true) {
      const ssize_t n = ::read(g_forget_pipe[0], &byte, 1);
      if (n == 1) {
        core.forgetAll();
      } else if (n < 0 && errno != EINTR) {
        return;
      }
    }
  }).detach();
  std::thread([&core, watch] { core.watchForever(watch); }).detach();

  const std::string autoload_file = args.get("--extensions-autoload", "");
  if (!autoload_file.empty()) {
    // osqueryd loads extensions once its manager listens.
    std::thread([&core, autoload_file, socket, watch] {
      while (!pathExists(socket)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      autoload(core, autoload_file, socket, watch.extensions_timeout, watch.interval);
    }).detach();
    // Reap what it starts (no zombies while the tests look at pids).
    ::signal(SIGCHLD, SIG_IGN);
  }

  TThreadedServer server(
      std::make_shared<ext::ExtensionManagerProcessor>(std::make_shared<ManagerHandler>(core)),
      std::make_shared<TServerSocket>(socket),
      std::make_shared<TBufferedTransportFactory>(),
      std::make_shared<TBinaryProtocolFactory>());
  server.setServerEventHandler(std::make_shared<ReadyPrinter>());
  try {
    server.serve();
  } catch (const std::exception& e) {
    std::cerr << "osquery_core: cannot serve on " << socket << ": " << e.what() << std::endl;
  }
  // Only reached on failure; the detached threads still use `core`.
  ::_exit(1);
}

// osquery's callExtension(<socket>.<uuid>, registry, item, request): first
// extensionPathActive (the socket exists and a ping on a new connection with
// a 10 s timeout gets any answer), then the call on another new connection
// with --thrift_timeout. A failure of the first step exits 2, of the call 3.
int call(const Args& args) {
  const std::string path = args.need("--socket") + "." + args.need("--uuid");
  const std::string registry = args.need("--registry");
  const std::string item = args.need("--item");
  const double timeout = args.seconds("--timeout", 300.0);
  ext::ExtensionPluginRequest request;
  for (const auto& kv : args.all("--request")) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) usage("--request needs KEY=VALUE");
    request[kv.substr(0, eq)] = kv.substr(eq + 1);
  }

  const std::string unavailable = "Extension socket not available: " + path;
  if (!pathExists(path)) return fail(2, unavailable);
  try {
    Connection<ext::ExtensionManagerClient> c(path, 10);
    ext::ExtensionStatus ignored;  // osquery does not look at it either
    c->ping(ignored);
  } catch (const std::exception& e) {
    return fail(2, unavailable + " (" + e.what() + ")");
  }

  ext::ExtensionResponse response;
  try {
    Connection<ext::ExtensionClient> c(path, timeout);
    c->call(response, registry, item, request);
  } catch (const std::exception& e) {
    return fail(3, std::string("Extension call failed: ") + e.what());
  }
  std::cout << Json()
                   .raw("status", Json()
                                      .num("code", response.status.code)
                                      .str("message", response.status.message)
                                      .text())
                   .raw("response", rows(response.response))
                   .text()
            << std::endl;
  return 0;
}

// Registers a fake extension whose tables have one TEXT column each.
int registerFake(const Args& args) {
  ext::InternalExtensionInfo info;
  info.name = args.need("--name");
  info.version = args.need("--version");
  info.sdk_version = args.need("--sdk-version");
  info.min_sdk_version = "0.0.0";

  const ext::ExtensionPluginResponse columns = {
      {{"id", "column"}, {"name", "value"}, {"type", "TEXT"}, {"op", "0"}}};
  ext::ExtensionRegistry registry;
  for (const auto& table : args.all("--table")) registry["table"][table] = columns;
  for (const auto& plugin : args.all("--plugin")) {
    const size_t colon = plugin.find(':');
    if (colon == std::string::npos) usage("--plugin needs REGISTRY:NAME");
    const std::string reg = plugin.substr(0, colon);
    registry[reg][plugin.substr(colon + 1)] =
        reg == "table" ? columns : ext::ExtensionPluginResponse{};
  }

  ext::ExtensionStatus status;
  try {
    Connection<ext::ExtensionManagerClient> c(args.need("--socket"), 10);
    c->registerExtension(status, info, registry);
  } catch (const std::exception& e) {
    return fail(3, std::string("Extension register failed: ") + e.what());
  }
  std::cout << statusJson(status) << std::endl;
  return 0;
}

int ping(const Args& args) {
  ext::ExtensionStatus status;
  try {
    Connection<ext::ExtensionClient> c(args.need("--socket"), 10);
    c->ping(status);
  } catch (const std::exception& e) {
    return fail(3, std::string("ping failed: ") + e.what());
  }
  std::cout << statusJson(status) << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage("");
  const std::string command = argv[1];
  // As osquery without --thrift_verbose: Thrift's own logging is silenced
  // (the clients report errors as JSON, the server its events on stderr).
  GlobalOutput.setOutputFunction([](const char*) {});
  if (command == "serve") {
    return serve(Args(argc, argv,
                      {"--socket", "--state", "--interval", "--preregister",
                       "--ping-timeout", "--extensions-timeout", "--extensions-autoload"}));
  }
  if (command == "call") {
    return call(Args(argc, argv,
                     {"--socket", "--uuid", "--registry", "--item", "--request", "--timeout"}));
  }
  if (command == "register") {
    return registerFake(Args(argc, argv,
                             {"--socket", "--name", "--version", "--sdk-version", "--table",
                              "--plugin"}));
  }
  if (command == "ping") return ping(Args(argc, argv, {"--socket"}));
  usage("unknown subcommand " + command);
}
