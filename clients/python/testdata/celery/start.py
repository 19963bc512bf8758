"""Starts one scan chain and prints its root id: python3 start.py IMAGE [gate=KEY] [fail] [retry_once]."""

import sys

import scanapp

options = {}
for arg in sys.argv[2:]:
    key, _, value = arg.partition("=")
    options[key] = value or True
print(scanapp.start(sys.argv[1], **options))
