"""JSON Lines in and out: kept so `from tilelli.data.jsonl import read_jsonl` keeps working.

The one definition lives in tilelli.io (read_json, read_jsonl, iter_jsonl, write_jsonl):
errors name the file and the line; writes are atomic.
"""
from tilelli.io import iter_jsonl, read_jsonl, write_jsonl

__all__ = ["iter_jsonl", "read_jsonl", "write_jsonl"]
