#!/usr/bin/env python3
"""Write .env for docker-compose.yml from .env.example, with a fresh random value for every secret.

    python3 deploy/generate_env.py           # refuses to overwrite an existing .env
    python3 deploy/generate_env.py --force   # new secrets (the PostgreSQL passwords only take
                                             # effect on an empty database volume)

Standard library only, so it runs before anything is installed. Every setting left empty in
.env.example is a secret: AIRFLOW_FERNET_KEY gets a Fernet key (URL-safe base64 of 32 random
bytes), every other one a URL-safe random token. AIRFLOW_UID becomes your user id (unless you
are root), so the containers write ./state as you. The file is made readable by you alone.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FERNET_KEYS = {"AIRFLOW_FERNET_KEY"}


def fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def secret_token() -> str:
    return secrets.token_urlsafe(32)


def render(example: str, uid: int | None = None) -> str:
    """The text of .env: ``example`` with its empty values filled and AIRFLOW_UID set to ``uid``."""
    lines = []
    for line in example.splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            name = name.strip()
            if not value.strip():
                value = fernet_key() if name in FERNET_KEYS else secret_token()
            elif name == "AIRFLOW_UID" and uid is not None:
                value = str(uid)
            line = f"{name}={value.strip()}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="overwrite an existing .env")
    parser.add_argument("--example", type=Path, default=ROOT / ".env.example")
    parser.add_argument("--out", type=Path, default=ROOT / ".env")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.force:
        print(f"{args.out} exists; keeping it (--force writes new secrets)", file=sys.stderr)
        return 1
    # As root (uid 0) keep the image's user: Airflow's services should not run as root.
    uid = os.getuid() if hasattr(os, "getuid") and os.getuid() != 0 else None
    text = render(args.example.read_text(encoding="utf-8"), uid)
    args.out.touch(mode=0o600, exist_ok=True)
    os.chmod(args.out, 0o600)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} with new secrets; the UI login is admin and the value of "
          f"AIRFLOW_ADMIN_PASSWORD in it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
