#!/usr/bin/env python3
"""Baseline for the import bench: what the existing admin scripts do (requests + pandas).

Reads the CSV with pandas, resolves role names with one GET /api/roles, then sends ONE POST per row, serially,
with no retries. Prints one JSON line: {"rows": N, "created": M, "requests": R, "seconds": wall,
"peak_rss_kib": ru_maxrss}.
Usage: baseline_import.py BASE_URL USERNAME PASSWORD CSV [--plan-only]
With --plan-only it builds every request body and sends none (the script's memory with the whole file loaded).
"""
import json
import resource
import sys
import time

import pandas as pd
import requests


def main() -> None:
    base, username, password, path = sys.argv[1:5]
    started = time.monotonic()
    session = requests.Session()
    login = session.post(f"{base}/api/v1/authentication/login", data={"username": username, "password": password})
    login.raise_for_status()
    session.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    roles = {r["name"].lower(): r["_id"] for r in session.get(f"{base}/api/roles").json()}
    roles.update({"viewer": roles["consumer"]})
    df = pd.read_csv(path)
    created, sent = 0, 2
    plan_only = "--plan-only" in sys.argv[5:]
    for row in df.itertuples(index=False):
        body = {"email": row.email, "firstName": row.first_name, "lastName": row.last_name,
                "roleId": roles[str(row.role).lower()]}
        if plan_only:
            created += 1
            continue
        response = session.post(f"{base}/api/v1/users", json=body)
        sent += 1
        created += response.status_code in (200, 201)
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": len(df), "created": created, "requests": sent,
                      "seconds": seconds, "peak_rss_kib": peak}))


if __name__ == "__main__":
    main()
