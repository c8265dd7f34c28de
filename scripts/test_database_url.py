"""Print the PostgreSQL URL the test suite should use, or nothing when none answers.

OPENHOTLINE_TEST_DATABASE_URL wins; otherwise a server on 127.0.0.1:5432 is tried with
the usual local users (trust auth, as in CI).
"""

from __future__ import annotations

import getpass
import os
import socket
import sys


def _answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error as exc:
        print(f"  {url}: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return False


def main() -> int:
    """Print the URL to use (exit 0) or explain on stderr why PostgreSQL is skipped."""
    explicit = os.environ.get("OPENHOTLINE_TEST_DATABASE_URL")
    if explicit:
        print(explicit)
        return 0
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        print("no PostgreSQL server answers on 127.0.0.1:5432", file=sys.stderr)
        return 0
    for user in ("postgres", getpass.getuser()):
        url = f"postgresql://{user}@127.0.0.1:5432/postgres"
        if _answers(url):
            print(url)
            return 0
    print("PostgreSQL on 127.0.0.1:5432 refused the local users", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
