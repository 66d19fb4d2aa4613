"""moto's server, with DynamoDB requests handled one at a time.

Real DynamoDB applies each conditional write atomically: of N concurrent
writes conditioned on the same version, exactly one succeeds. moto's
threaded server checks the condition and writes the item in two steps, so
two racing requests can both pass. The port tests race writers on
purpose, so this launcher serialises DynamoDB requests (S3, SQS and Step
Functions stay concurrent), answers a Query page without sorting the whole
table again (below), and otherwise runs moto unchanged:

    python scripts/moto_server.py -H 127.0.0.1 -p 5000
"""

import operator
import sys
import threading
import weakref

import moto.server
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_dynamodb = threading.Lock()
_dispatch = DomainDispatcherApplication.__call__


def _serialised(self, environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        with _dynamodb:
            return _dispatch(self, environ, start_response)
    return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = _serialised


# moto answers every Query page by comparing every item of the table with
# the key and sorting them again, each comparison going through
# DynamoType.cast_value. Strings (every key this project uses) compare as
# their value, so for two strings the comparison below is the same one,
# only without the detour: a long export's pages get several times
# cheaper, with the same answers.
def _compare_strings_directly(name):
    slow = getattr(DynamoType, name)
    op = getattr(operator, name)

    def compare(self, other):
        if self.type == "S" and getattr(other, "type", None) == "S":
            return op(self.value, other.value)
        return slow(self, other)

    setattr(DynamoType, name, compare)


for _name in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
    _compare_strings_directly(_name)


# moto's Query on a table (not an index) takes Table.all_items(), which
# sorts every item of the table, keeps those of the queried partition and
# sorts them by range key again: twice O(n log n) of the whole table for
# every page. The partition's items, sorted by range key, are all it
# needs; they are kept between pages until the table is written (a put
# or delete, counted here; updates change items in place, which the kept
# list holds, and never their keys). The answers are the same items in
# the same order.
_writes = weakref.WeakKeyDictionary()
_sorted_partitions = weakref.WeakKeyDictionary()


def _counting(method):
    def counted(self, *args, **kwargs):
        _writes[self] = _writes.get(self, 0) + 1
        return method(self, *args, **kwargs)

    return counted


Table.put_item = _counting(Table.put_item)
Table.delete_item = _counting(Table.delete_item)
_query = Table.query


def _query_one_partition(self, hash_key, *args, **kwargs):
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name is not None or hash_key is None or not self.range_key_attr:
        return _query(self, hash_key, *args, **kwargs)
    partition = self.items.get(hash_key) or {}
    stamp = (id(partition), len(partition), _writes.get(self, 0))
    kept = _sorted_partitions.setdefault(self, {})
    entry = kept.get(hash_key)
    if entry is None or entry[0] != stamp:
        entry = (stamp, sorted(partition.values(), key=lambda item: item.range_key))
        kept[hash_key] = entry
    # Requests are serialised (above), so shadowing the method for the
    # length of this call affects no other request.
    self.all_items = lambda: list(entry[1])
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


Table.query = _query_one_partition

if __name__ == "__main__":
    moto.server.main(sys.argv[1:])
