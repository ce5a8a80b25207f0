"""Test scaffolding for tests/hostile/test_bounds.py, not part of the package.

Every Python process started with this folder on PYTHONPATH (the CLI and the worker
processes it spawns) is offline the way this machine is without a network: an HTTP request
fails to connect below gTTS (where tests/speech/test_gtts.py fakes the transport), no internet
socket can be opened at all, and gTTS's retry jitter is fixed at 0.5 so that every run
waits the same backoff."""

import random
import socket

import requests.adapters
import requests.exceptions


def _offline(self, request, *args, **kwargs):
    raise requests.exceptions.ConnectionError(
        f"Failed to resolve '{request.url.split('/')[2]}' (Name or service not known)", request=request)


def _no_internet(self, address, _connect=socket.socket.connect):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        raise OSError("a test blocked the network")
    return _connect(self, address)


requests.adapters.HTTPAdapter.send = _offline
socket.socket.connect = _no_internet
random.random = lambda: 0.5
