"""A stand-in for osqueryd's extension manager, speaking osquery's real Thrift
protocol (the official osquery Python SDK's generated bindings) over a Unix
socket, as osqueryd does.

It does what osqueryd does for extensions:
- serves ExtensionManager on --socket: registerExtension (refusing duplicate
  extension names and table names that already exist, core tables included),
  deregisterExtension, extensions, ping, options, query, getQueryColumns;
- pings every registered extension on <socket>.<uuid> every --interval
  seconds and forgets one that does not answer.

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
        with self.lock:
            names = {e["info"]["name"] for e in self.registrations.values()}
            tables = set(CORE_TABLES)
            for e in self.registrations.values():
                tables |= set(e["registry"].get("table", {}).keys())
            if info.name in names:
                self.events.append({"event": "refused", "name": info.name, "why": "duplicate"})
                status = ttypes.ExtensionStatus(code=1, message="Duplicate extension registered")
            elif set(registry.get("table", {}).keys()) & tables:
                clash = sorted(set(registry.get("table", {}).keys()) & tables)
                self.events.append({"event": "refused", "name": info.name, "why": "table"})
                status = ttypes.ExtensionStatus(code=1, message="Duplicate registry item: " + clash[0])
            else:
                uuid = random.randint(1000, 2**31)
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
                status = ttypes.ExtensionStatus(code=0, message="OK", uuid=uuid)
        self.save()
        return status

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
                try:
                    transport = TTransport.TBufferedTransport(TSocket.TSocket(unix_socket=path))
                    transport.open()
                    client = Extension.Client(TBinaryProtocol.TBinaryProtocol(transport))
                    client.ping()
                    transport.close()
                except Exception:
                    with self.lock:
                        if self.registrations.pop(uuid, None) is not None:
                            self.events.append({"event": "ping_failed", "uuid": uuid})
                    self.save()

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
        core.registerExtension(
            ttypes.InternalExtensionInfo(name=args.preregister, version="0", sdk_version="0", min_sdk_version="0"),
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
