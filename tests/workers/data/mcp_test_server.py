#!/usr/bin/env python3
"""A small MCP server over stdio for the McpClient tests (tests/workers/mcp_client_test.cc).

It speaks the real protocol (JSON-RPC 2.0, one message per line on stdin/stdout, log on
stderr) and misbehaves on demand, so the client's failure paths run against a real process:

  tools:  echo(text), add(a, b), multi, fail, crash, hang, freeze, malformed, notify, slow(ms, text),
          ask_client(method), env(name), client_info, cancelled, noisy_stderr(bytes)
  flags:  --page-size N             tools per tools/list page (default 3)
          --answer-version V        answer initialize with protocol version V
          --exit-at-start CODE      exit before reading anything
          --hang-on-initialize      never answer initialize
          --stubborn                ignore SIGTERM and stdin EOF (only SIGKILL stops it)

tools/list and tools/call are refused (-32002) until notifications/initialized arrives.
"""
import json
import os
import signal
import sys
import threading
import time

ARGS = sys.argv[1:]


def flag(name, default=None):
    if name in ARGS:
        i = ARGS.index(name)
        return ARGS[i + 1] if i + 1 < len(ARGS) and not ARGS[i + 1].startswith("--") else True
    return default


def obj(props, required=()):
    return {"type": "object", "properties": props, "required": list(required)}


TOOLS = [
    {"name": "echo", "description": "Returns its text.",
     "inputSchema": obj({"text": {"type": "string"}}, ["text"])},
    {"name": "add", "description": "Adds two numbers.",
     "inputSchema": obj({"a": {"type": "number"}, "b": {"type": "number"}}, ["a", "b"])},
    {"name": "multi", "description": "Two text blocks and an image.", "inputSchema": obj({})},
    {"name": "fail", "description": "Reports a tool error.", "inputSchema": obj({})},
    {"name": "crash", "description": "Exits with code 3 mid-call.", "inputSchema": obj({})},
    {"name": "hang", "description": "Never answers.", "inputSchema": obj({})},
    {"name": "freeze", "description": "Stops reading stdin and answering (sleeps).", "inputSchema": obj({})},
    {"name": "malformed", "description": "Writes a line that is not JSON.", "inputSchema": obj({})},
    {"name": "notify", "description": "Sends notifications, then answers.", "inputSchema": obj({})},
    {"name": "slow", "description": "Answers after ms milliseconds (others meanwhile).",
     "inputSchema": obj({"ms": {"type": "integer"}, "text": {"type": "string"}}, ["ms", "text"])},
    {"name": "ask_client", "description": "Sends the client a request, answers with its reply.",
     "inputSchema": obj({"method": {"type": "string"}}, ["method"])},
    {"name": "env", "description": "An environment variable.",
     "inputSchema": obj({"name": {"type": "string"}}, ["name"])},
    {"name": "client_info", "description": "The initialize params it received.", "inputSchema": obj({})},
    {"name": "cancelled", "description": "Request ids the client cancelled.", "inputSchema": obj({})},
    {"name": "noisy_stderr", "description": "Logs many bytes to stderr, then answers.",
     "inputSchema": obj({"bytes": {"type": "integer"}}, ["bytes"])},
]

out_lock = threading.Lock()
state = {"initialized": False, "init_params": None, "cancelled": [], "asks": {}, "next_ask": 1}


def send(msg):
    line = json.dumps(msg) + "\n"
    with out_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def log(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def result(rid, res):
    send({"jsonrpc": "2.0", "id": rid, "result": res})


def error(rid, code, message):
    send({"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}})


def text(rid, t, is_error=False):
    res = {"content": [{"type": "text", "text": t}]}
    if is_error:
        res["isError"] = True
    result(rid, res)


def call_tool(rid, name, args):
    if name == "echo":
        text(rid, args["text"])
    elif name == "add":
        text(rid, str(args["a"] + args["b"]))
    elif name == "multi":
        result(rid, {"content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"},
                                 {"type": "image", "data": "AAAA", "mimeType": "image/png"}]})
    elif name == "fail":
        text(rid, "boom: the tool failed", is_error=True)
    elif name == "crash":
        log("crashing on purpose")
        os._exit(3)
    elif name == "hang":
        log("hanging request %s" % rid)
    elif name == "freeze":
        log("freezing")
        time.sleep(3600)
    elif name == "malformed":
        with out_lock:
            sys.stdout.write("this is {not json\n")
            sys.stdout.flush()
    elif name == "notify":
        send({"jsonrpc": "2.0", "method": "notifications/message",
              "params": {"level": "info", "data": "working"}})
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        text(rid, "notified")
    elif name == "slow":
        threading.Timer(args["ms"] / 1000.0, lambda: text(rid, args["text"])).start()
    elif name == "ask_client":
        ask_id = "srv-%d" % state["next_ask"]
        state["next_ask"] += 1
        state["asks"][ask_id] = rid
        send({"jsonrpc": "2.0", "id": ask_id, "method": args["method"], "params": {}})
    elif name == "env":
        text(rid, os.environ.get(args["name"], "<unset>"))
    elif name == "client_info":
        text(rid, json.dumps(state["init_params"]))
    elif name == "cancelled":
        text(rid, json.dumps(state["cancelled"]))
    elif name == "noisy_stderr":
        remaining = args["bytes"]
        while remaining > 0:
            n = min(remaining, 1000)
            sys.stderr.write("x" * (n - 1) + "\n")
            remaining -= n
        sys.stderr.flush()
        text(rid, "logged")
    else:
        error(rid, -32602, "Unknown tool: %s" % name)


def handle(msg):
    method = msg.get("method")
    rid = msg.get("id")
    if method is None:  # a response to one of our requests
        asker = state["asks"].pop(rid, None)
        if asker is not None:
            reply = {k: v for k, v in msg.items() if k in ("result", "error")}
            text(asker, "client answered: " + json.dumps(reply, sort_keys=True))
        return
    if method == "initialize":
        state["init_params"] = msg.get("params")
        if flag("--hang-on-initialize"):
            return
        version = flag("--answer-version") or msg["params"]["protocolVersion"]
        result(rid, {"protocolVersion": version,
                     "capabilities": {"tools": {"listChanged": True}},
                     "serverInfo": {"name": "tide-test-server", "version": "1.2.3"},
                     "instructions": "Use echo to test."})
    elif method == "notifications/initialized":
        state["initialized"] = True
    elif method == "notifications/cancelled":
        state["cancelled"].append(msg["params"]["requestId"])
    elif method == "ping":
        result(rid, {})
    elif method in ("tools/list", "tools/call") and not state["initialized"]:
        error(rid, -32002, "not initialized: notifications/initialized was not received")
    elif method == "tools/list":
        size = int(flag("--page-size", "3"))
        start = int(msg.get("params", {}).get("cursor", "0"))
        page = {"tools": TOOLS[start:start + size]}
        if start + size < len(TOOLS):
            page["nextCursor"] = str(start + size)
        result(rid, page)
    elif method == "tools/call":
        p = msg.get("params", {})
        call_tool(rid, p.get("name"), p.get("arguments", {}))
    elif rid is not None:
        error(rid, -32601, "Method not found: %s" % method)


def main():
    if flag("--exit-at-start"):
        log("refusing to start")
        sys.exit(int(flag("--exit-at-start")))
    if flag("--stubborn"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    log("tide test MCP server started")
    for line in sys.stdin:
        line = line.strip()
        if line:
            handle(json.loads(line))
    log("stdin closed")
    if flag("--stubborn"):
        while True:
            time.sleep(60)


if __name__ == "__main__":
    main()
