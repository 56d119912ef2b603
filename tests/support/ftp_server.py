"""A real FTP server (pyftpdlib) on a free local port, for firmware downloads and log uploads."""

from __future__ import annotations

import threading
from pathlib import Path

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

USER = "station"
PASSWORD = "pa:ss@word"  # characters that must be percent-encoded in a URL


class LocalFtpServer:
    """Serves ``root`` to ``USER``/``PASSWORD`` (read/write) on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.root = root
        authorizer = DummyAuthorizer()
        authorizer.add_user(USER, PASSWORD, str(root), perm="elradfmw")
        handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "passive_ports": None})
        self.server = FTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"timeout": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        return f"ftp://station:pa%3Ass%40word@127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.close_all()
        self.thread.join(2)
