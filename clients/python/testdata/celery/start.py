"""Starts one scan chain and prints its root id.

    python3 start.py IMAGE [gate=KEY] [fail] [retry_once] [uninstalled]

``uninstalled`` sends the chain from a process without the Herald integration (as an API
server that does not install it would).
"""

import sys

import scanapp

options = {}
for arg in sys.argv[2:]:
    key, _, value = arg.partition("=")
    options[key] = value or True
if options.pop("uninstalled", False):
    scanapp.integration.uninstall()
print(scanapp.start(sys.argv[1], **options))
