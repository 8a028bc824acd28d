"""A stand-in for osqueryd's extension manager, speaking osquery's real Thrift
protocol (the official osquery Python SDK's generated bindings) over a Unix
socket, as osqueryd does.

It does what osqueryd does for extensions:
- serves ExtensionManager on --socket: registerExtension with osqueryd's
  checks in osqueryd's order (osquery/extensions/interface.cpp and
  RegistryFactory::addBroadcast): a duplicate extension name, then an
  sdk_version below kSDKVersionChanges (versionAtLeast, ported below), then a
  registry item that already exists (core tables included) or an unknown
  registry; the uuid is a random uint16 + 1, unique, as osquery's
  UuidGenerator; deregisterExtension, extensions, ping, options, query,
  getQueryColumns;
- pings every registered extension on <socket>.<uuid> every --interval
  seconds, with osquery's 10 s timeout, and forgets one whose ping fails once.

Test hooks, so a test can play osquery misbehaving:
- --state FILE: the registrations are written there (JSON) on every change;
- --preregister NAME: an extension NAME is registered before anyone else;
- SIGUSR1: forget every registration (osquery dropped the extension);
- SIGTERM: stop serving and remove the socket (osquery went away).
"""

import argparse
import json
import os
import random
import signal
import sys
import threading
import time

from osquery.extensions import Extension, ExtensionManager, ttypes
from thrift.protocol import TBinaryProtocol
from thrift.server import TServer
from thrift.transport import TSocket, TTransport

# A few of osquery's core tables: registering one of these must fail.
CORE_TABLES = {"processes", "users", "file", "listening_ports", "deb_packages", "osquery_info"}

# osquery 5's registries; a broadcast naming another one is refused.
REGISTRIES = {
    "config", "config_parser", "database", "distributed", "enroll", "event_publisher",
    "event_subscriber", "killswitch", "logger", "numeric_monitoring", "sql", "table",
}

# osquery/extensions/interface.cpp: an extension whose sdk_version compares
# below any of these is refused.
SDK_VERSION_CHANGES = ["1.7.7"]

# osquery's watcher pings with a 10 s timeout (callExtension / the watcher's
# EXClient); one failed ping removes the extension.
PING_TIMEOUT_MS = 10_000

INT_MIN, INT_MAX = -(2**31), 2**31 - 1


class StoiInvalidArgument(ValueError):
    """std::invalid_argument from std::stoi: no digits to convert."""


class StoiOutOfRange(OverflowError):
    """std::out_of_range from std::stoi. osquery's versionAtLeast does not
    catch it: the exception leaves registerExtension (the Thrift processor
    turns it into a TApplicationException)."""


def _cpp_isspace(ch):
    return ch in " \t\n\v\f\r"


def stoi(text):
    """std::stoi(text) in base 10: skips leading whitespace, takes an
    optional sign and the leading digits, ignores the rest."""
    i = 0
    while i < len(text) and _cpp_isspace(text[i]):
        i += 1
    sign = 1
    if i < len(text) and text[i] in "+-":
        sign = -1 if text[i] == "-" else 1
        i += 1
    start = i
    while i < len(text) and "0" <= text[i] <= "9":
        i += 1
    if i == start:
        raise StoiInvalidArgument("stoi: no conversion: %r" % text)
    value = sign * int(text[start:i])
    if not INT_MIN <= value <= INT_MAX:
        raise StoiOutOfRange("stoi: out of range: %r" % text)
    return value


def osquery_split(text, delim):
    """osquery::split(s, delim): boost::split on any of delim, drop empty
    tokens, then trim whitespace from each."""
    parts = [p for p in _split_any(text, delim) if p]
    return [p.strip(" \t\n\v\f\r") for p in parts]


def _split_any(text, delims):
    out, cur = [], []
    for ch in text:
        if ch in delims:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _cpp_compare(a, b):
    """std::string::compare: bytewise."""
    a, b = a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape")
    return (a > b) - (a < b)


def version_at_least(v, sdk):
    """osquery's versionAtLeast(v, sdk) (osquery/utils/info/version.cpp):
    true when sdk is at least v."""
    if v == "0.0.0" or sdk == "0.0.0":
        # This is a please-pass check.
        return True
    required_version = osquery_split(v, ".")
    build_version = osquery_split(sdk, ".")
    for index, chunk in enumerate(build_version):
        if len(required_version) <= index:
            return True
        try:
            if stoi(chunk) < stoi(required_version[index]):
                return False
            elif stoi(chunk) > stoi(required_version[index]):
                return True
        except StoiInvalidArgument:
            if _cpp_compare(chunk, required_version[index]) < 0:
                return False
    return True


class Core:
    def __init__(self, socket_path, state_path, interval):
        self.socket_path = socket_path
        self.state_path = state_path
        self.interval = interval
        self.lock = threading.Lock()
        self.registrations = {}  # uuid -> {"info": {...}, "registry": {...}}
        self.events = []

    def save(self):
        if not self.state_path:
            return
        with self.lock:
            data = {"extensions": {str(k): v for k, v in self.registrations.items()}, "events": self.events}
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.state_path)

    # --- Extension service ---
    def ping(self):
        return ttypes.ExtensionStatus(code=0, message="OK")

    def call(self, registry, item, request):
        return ttypes.ExtensionResponse(
            status=ttypes.ExtensionStatus(code=1, message="core plugins are not served here"), response=[]
        )

    def shutdown(self):
        pass

    # --- ExtensionManager service ---
    def extensions(self):
        with self.lock:
            return {
                uuid: ttypes.InternalExtensionInfo(
                    name=e["info"]["name"],
                    version=e["info"]["version"],
                    sdk_version=e["info"]["sdk_version"],
                    min_sdk_version=e["info"]["min_sdk_version"],
                )
                for uuid, e in self.registrations.items()
            }

    def options(self):
        return {}

    def registerExtension(self, info, registry):
        status = self._register(info, registry or {})
        self.save()
        return status

    def _refuse(self, info, why, message):
        self.events.append({"event": "refused", "name": info.name, "why": why, "message": message})
        return ttypes.ExtensionStatus(code=1, message=message)

    def _register(self, info, registry):
        # ExtensionManagerInterface::registerExtension, in osquery's order.
        with self.lock:
            if info.name in {e["info"]["name"] for e in self.registrations.values()}:
                return self._refuse(info, "duplicate", "Duplicate extension registered")
            sdk_version = info.sdk_version if info.sdk_version is not None else ""
            for change in SDK_VERSION_CHANGES:
                if not version_at_least(change, sdk_version):
                    return self._refuse(info, "sdk", "Incompatible extension SDK version")
            uuid = self._new_uuid()
            # RegistryFactory::addBroadcast: duplicate items first (registries
            # and items in std::map order), then unknown registries.
            existing = {"table": set(CORE_TABLES)}
            for e in self.registrations.values():
                for name, items in e["registry"].items():
                    existing.setdefault(name, set()).update(items.keys())
            for name in sorted(registry):
                for item in sorted(registry[name]):
                    if name in REGISTRIES and item in existing.get(name, ()):
                        return self._refuse(info, "table" if name == "table" else "registry",
                                            "Failed adding registry: Duplicate registry item: " + item)
            for name in sorted(registry):
                if name not in REGISTRIES:
                    return self._refuse(info, "registry", "Failed adding registry: Unknown registry: " + name)
            self.registrations[uuid] = {
                "info": {
                    "name": info.name,
                    "version": info.version,
                    "sdk_version": info.sdk_version,
                    "min_sdk_version": info.min_sdk_version,
                },
                "registry": {k: dict(v) for k, v in registry.items()},
            }
            self.events.append({"event": "registered", "name": info.name, "uuid": uuid})
            return ttypes.ExtensionStatus(code=0, message="OK", uuid=uuid)

    def _new_uuid(self):
        # osquery's UuidGenerator: static_cast<uint16_t>(rand() + 1), drawn
        # again while it is in use. (A refused registration frees it again.)
        uuid = (random.randint(0, 2**31 - 1) + 1) & 0xFFFF
        while uuid in self.registrations:
            uuid = (random.randint(0, 2**31 - 1) + 1) & 0xFFFF
        return uuid

    def deregisterExtension(self, uuid):
        with self.lock:
            found = self.registrations.pop(uuid, None)
            self.events.append({"event": "deregistered", "uuid": uuid, "known": found is not None})
        self.save()
        if found is None:
            return ttypes.ExtensionStatus(code=1, message="No extension UUID registered")
        return ttypes.ExtensionStatus(code=0, message="OK")

    def query(self, sql):
        return ttypes.ExtensionResponse(status=ttypes.ExtensionStatus(code=0, message="OK"), response=[])

    def getQueryColumns(self, sql):
        return ttypes.ExtensionResponse(status=ttypes.ExtensionStatus(code=0, message="OK"), response=[])

    # --- osquery's side of liveness ---
    def ping_extensions(self):
        while True:
            time.sleep(self.interval)
            with self.lock:
                uuids = list(self.registrations.keys())
            for uuid in uuids:
                path = "%s.%d" % (self.socket_path, uuid)
                transport = None
                try:
                    sock = TSocket.TSocket(unix_socket=path)
                    sock.setTimeout(PING_TIMEOUT_MS)
                    transport = TTransport.TBufferedTransport(sock)
                    transport.open()
                    client = Extension.Client(TBinaryProtocol.TBinaryProtocol(transport))
                    client.ping()
                except Exception as e:
                    # One failed ping and osquery removes the extension.
                    with self.lock:
                        if self.registrations.pop(uuid, None) is not None:
                            self.events.append({"event": "ping_failed", "uuid": uuid, "error": repr(e)[:200]})
                    self.save()
                finally:
                    if transport is not None:
                        try:
                            transport.close()
                        except Exception:
                            pass

    def forget_all(self, *_):
        with self.lock:
            self.registrations.clear()
            self.events.append({"event": "forgot_all"})
        self.save()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--state")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--preregister")
    args = parser.parse_args()

    core = Core(args.socket, args.state, args.interval)
    if args.preregister:
        # sdk_version "0.0.0" is osquery's please-pass value.
        core.registerExtension(
            ttypes.InternalExtensionInfo(name=args.preregister, version="0", sdk_version="0.0.0",
                                         min_sdk_version="0.0.0"),
            {"table": {}},
        )
    signal.signal(signal.SIGUSR1, core.forget_all)

    def going_away(*_):
        try:
            os.unlink(args.socket)
        except OSError:
            pass
        os._exit(0)

    signal.signal(signal.SIGTERM, going_away)
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    processor = ExtensionManager.Processor(core)
    server = TServer.TThreadedServer(
        processor,
        TSocket.TServerSocket(unix_socket=args.socket),
        TTransport.TBufferedTransportFactory(),
        TBinaryProtocol.TBinaryProtocolFactory(),
        daemon=True,
    )
    threading.Thread(target=core.ping_extensions, daemon=True).start()
    core.save()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    server.serve()


if __name__ == "__main__":
    main()
