#!/usr/bin/env python3
"""Baseline for the export bench: what the existing admin scripts do (requests + pandas).

Logs in, fetches every user in ONE GET (no paging), builds a DataFrame and writes the CSV.
Prints one JSON line: {"users": N, "seconds": wall, "peak_rss_kib": ru_maxrss}.
Usage: baseline_export.py BASE_URL USERNAME PASSWORD OUT_CSV
"""
import json
import resource
import sys
import time

import pandas as pd
import requests


def main() -> None:
    base, username, password, out = sys.argv[1:5]
    started = time.monotonic()
    login = requests.post(f"{base}/api/v1/authentication/login", data={"username": username, "password": password})
    login.raise_for_status()
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    users = requests.get(f"{base}/api/v1/users", headers=headers)
    users.raise_for_status()
    df = pd.DataFrame(users.json())
    columns = {
        "_id": "user_id", "userName": "user_name", "firstName": "first_name", "lastName": "last_name",
        "active": "is_active", "roleId": "role_id", "created": "created_date", "tenantId": "tenant_id",
        "lastLogin": "last_login", "lastActivity": "last_activity",
    }
    for column in columns:
        if column not in df:
            df[column] = None
    df[list(columns)].rename(columns=columns).to_csv(out, index=False)
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"users": len(df), "seconds": seconds, "peak_rss_kib": peak}))


if __name__ == "__main__":
    main()
