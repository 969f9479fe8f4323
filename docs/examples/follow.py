#!/usr/bin/env python3
"""Follow a crawlhub task's log over the WebSocket API, with no gap.

    python3 follow.py --server http://127.0.0.1:8080 --token TOKEN TASK_ID

Prints every line of the task's log from the first (or --since N) until the
task ends, reconnecting and resuming where it stopped if the connection
drops. Exits 0 if the task finished, 1 otherwise.

Needs the `websockets` package (Debian: apt-get install python3-websockets).
"""
import argparse
import asyncio
import json
import sys

import websockets


def connect(url, token):
    headers = {"Authorization": f"Bearer {token}"}
    # max_size=None: the server may send several messages in one frame.
    if int(websockets.__version__.split(".")[0]) >= 14:
        return websockets.connect(url, additional_headers=headers, max_size=None)
    return websockets.connect(url, extra_headers=headers, max_size=None)


async def follow(server, token, task_id, since):
    url = server.replace("http", "ws", 1).rstrip("/") + "/ws"
    channel = f"task:{task_id}:log"
    nxt = since
    while True:
        try:
            async with connect(url, token) as ws:
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "subscribe",
                                          "params": {"channel": channel, "since": nxt}}))
                async for frame in ws:
                    msgs = json.loads(frame)
                    for msg in msgs if isinstance(msgs, list) else [msgs]:
                        if "error" in msg and msg["error"]:
                            print(f"crawlhub: {msg['error']['message']}", file=sys.stderr)
                            return None
                        if msg.get("method") != "publish" or msg["params"]["channel"] != channel:
                            continue
                        data = msg["params"]["data"]
                        if data.get("end"):
                            return data["status"]
                        if data["from"] != nxt:
                            raise RuntimeError(f"expected line {nxt}, got {data['from']}")
                        sys.stdout.write("".join(line + "\n" for line in data["lines"]))
                        nxt += len(data["lines"])
        except (OSError, websockets.ConnectionClosed) as e:
            print(f"crawlhub: connection lost ({e}); resuming at line {nxt}", file=sys.stderr)
            await asyncio.sleep(1)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default="http://127.0.0.1:8080")
    p.add_argument("--token", required=True)
    p.add_argument("--since", type=int, default=0)
    p.add_argument("task_id")
    a = p.parse_args()
    status = asyncio.run(follow(a.server, a.token, a.task_id, a.since))
    sys.stdout.flush()
    print(f"crawlhub: task {a.task_id} {status}", file=sys.stderr)
    sys.exit(0 if status == "finished" else 1)


if __name__ == "__main__":
    main()
