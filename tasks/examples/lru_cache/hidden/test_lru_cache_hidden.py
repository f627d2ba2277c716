import pytest

from lrucache import LRUCache


def test_update_existing_key_does_not_evict():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    assert len(cache) == 2
    assert cache.get("a") == 10
    assert cache.keys() == ["b", "a"]


def test_contains_does_not_change_recency():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert "a" in cache
    cache.put("c", 3)
    assert "a" not in cache


def test_missing_get_does_not_insert():
    cache = LRUCache(1)
    cache.put("a", 1)
    assert cache.get("b", 5) == 5
    assert cache.keys() == ["a"]


def test_capacity_one_and_falsy_values():
    cache = LRUCache(1)
    cache.put("a", 0)
    assert cache.get("a", "default") == 0
    cache.put("b", None)
    assert "b" in cache
    assert cache.get("b", "default") is None
    assert cache.keys() == ["b"]


def test_negative_capacity():
    with pytest.raises(ValueError):
        LRUCache(-3)
