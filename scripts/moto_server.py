"""moto's server, with DynamoDB requests handled one at a time.

Real DynamoDB applies each conditional write atomically: of N concurrent
writes conditioned on the same version, exactly one succeeds. moto's
threaded server checks the condition and writes the item in two steps, so
two racing requests can both pass. The port tests race writers on
purpose, so this launcher serialises DynamoDB requests (S3, SQS and Step
Functions stay concurrent) and otherwise runs moto unchanged:

    python scripts/moto_server.py -H 127.0.0.1 -p 5000
"""

import sys
import threading

import moto.server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_dynamodb = threading.Lock()
_dispatch = DomainDispatcherApplication.__call__


def _serialised(self, environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        with _dynamodb:
            return _dispatch(self, environ, start_response)
    return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = _serialised

if __name__ == "__main__":
    moto.server.main(sys.argv[1:])
