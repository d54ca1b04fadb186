"""``station pki ...``: the CA side's operations."""

from __future__ import annotations

import argparse
from pathlib import Path

from pki import init_dev_pki
from pki.devpki import DEFAULT_BASE_URL, DEFAULT_ORGANIZATION
from station.commands import EXIT_OK, Subcommands


def register(commands: Subcommands) -> None:
    """Add ``station pki`` and its subcommands."""
    pki = commands.add_parser("pki", help="PKI operations")
    pki_commands = pki.add_subparsers(title="pki commands", metavar="COMMAND")
    _register_init(pki_commands)


def _register_init(commands: Subcommands) -> None:
    init = commands.add_parser(
        "init",
        help="create a development PKI (root and issuing CA in SoftHSM2)",
        description=(
            "Create a development PKI: a P-384 root CA key in its own SoftHSM2 "
            "token and configuration, a P-256 issuing CA key in a second token, "
            "random PINs in 0600 files, and both CA certificates."
        ),
    )
    init.add_argument("--dir", type=Path, required=True, metavar="DIR")
    init.add_argument("--organization", default=DEFAULT_ORGANIZATION)
    init.add_argument("--base-url", default=DEFAULT_BASE_URL, metavar="URL")
    init.set_defaults(command=_init)


def _init(args: argparse.Namespace) -> int:
    pki = init_dev_pki(args.dir, organization=args.organization, base_url=args.base_url)
    issuing = pki.issuing
    print(f"development PKI in {pki.directory}")
    print(f"  root CA certificate     {pki.root_certificate}")
    print(f"  issuing CA certificate  {issuing.certificate}")
    print(f"  issuing CA token        {issuing.token_label} ({issuing.softhsm_conf})")
    print(f"  issuing CA PIN file     {issuing.pin_file}")
    return EXIT_OK
