"""Amazon Connect's contact look-up, emulated for the embedded stack (moto has no contacts).

Answers the two operations the importer calls, ``DescribeContact``
(``GET /contacts/{InstanceId}/{ContactId}``) and ``GetContactAttributes``
(``GET /contact/attributes/{InstanceId}/{InitialContactId}``), with the shapes of the
Connect API, from a small JSON file: ``local/connect_contacts.json`` (or the file named by
``CALLGUARD_LOCAL_CONTACTS``). boto3 reaches it through ``AWS_ENDPOINT_URL_CONNECT``, so the
importer runs unchanged. The file::

    {"instance_id": "<uuid>",
     "contacts": {"<contact id>": {"channel": "VOICE", "customer_phone": "+49…", "agent_id": "…",
                                   "initiated_at": "…Z", "disconnected_at": "…Z",
                                   "attributes": {"callguard_customer_id": "K-1", …}}}}

Contacts can be added while the stack runs (the file is read on every request). Never deployed.
"""

from __future__ import annotations

import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["CONTACTS_FILE", "ConnectServer"]

CONTACTS_FILE = Path(__file__).resolve().parent / "connect_contacts.json"
_DESCRIBE = re.compile(r"^/contacts/(?P<instance>[^/]+)/(?P<contact>[^/?]+)$")
_ATTRIBUTES = re.compile(r"^/contact/attributes/(?P<instance>[^/]+)/(?P<contact>[^/?]+)$")


class ConnectServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, contacts_file: Path | None = None) -> None:
        env = os.environ.get("CALLGUARD_LOCAL_CONTACTS")
        self.contacts_file = contacts_file or (Path(env) if env else CONTACTS_FILE)
        self.host = host
        self.port = port
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def directory(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.contacts_file.read_text(encoding="utf-8"))
        return data

    @property
    def instance_id(self) -> str:
        return str(self.directory()["instance_id"])

    def instance_arn(self, region: str, account: str) -> str:
        return f"arn:aws:connect:{region}:{account}:instance/{self.instance_id}"

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        directory = self.directory()
        for pattern, build in ((_DESCRIBE, _describe), (_ATTRIBUTES, _attributes)):
            match = pattern.match(path.partition("?")[0])
            if match is None:
                continue
            contact = directory.get("contacts", {}).get(match.group("contact"))
            if match.group("instance") != directory["instance_id"] or contact is None:
                return 404, {"__type": "ResourceNotFoundException", "Message": "Contact not found."}
            return 200, build(match.group("contact"), contact)
        return 400, {"__type": "InvalidRequestException", "Message": "Not emulated locally."}

    def start(self) -> ConnectServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                status, body = server.answer(self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if status != 200:
                    self.send_header("x-amzn-ErrorType", body["__type"])
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="connect", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _describe(contact_id: str, contact: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": contact_id,
        "InitialContactId": contact_id,
        "Channel": contact.get("channel", "VOICE"),
        "InitiationTimestamp": contact.get("initiated_at"),
        "DisconnectTimestamp": contact.get("disconnected_at"),
    }
    if contact.get("agent_id"):
        out["AgentInfo"] = {"Id": contact["agent_id"]}
    if contact.get("customer_phone"):
        out["CustomerEndpoint"] = {"Type": "TELEPHONE_NUMBER", "Address": contact["customer_phone"]}
    return {"Contact": {k: v for k, v in out.items() if v is not None}}


def _attributes(_contact_id: str, contact: dict[str, Any]) -> dict[str, Any]:
    return {"Attributes": dict(contact.get("attributes", {}))}
