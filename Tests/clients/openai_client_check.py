"""Drives Parley's OpenAI-compatible endpoint with the official `openai` Python package.

Usage: openai_client_check.py BASE_URL API_KEY MODEL TOOL_PROMPT

Prints one JSON object with what the client saw; the Swift test (OpenAICompatibleTests) asserts
on it and checks the runs on the server. Each step records the exception class the SDK raised, so
a status code mapped to the wrong error shows up as a wrong class name.
"""
import json
import sys

import openai

base_url, api_key, model, tool_prompt = sys.argv[1:5]
client = openai.OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0, timeout=60)
seen = {}


def attempt(name, call):
    try:
        seen[name] = call()
    except openai.APIError as error:  # the class name is what the test checks
        seen[name] = {"raised": type(error).__name__, "status": getattr(error, "status_code", None),
                      "message": str(error)}


attempt("models", lambda: [m.id for m in client.models.list().data])
attempt("retrieve", lambda: client.models.retrieve(model).id)


def plain():
    c = client.chat.completions.create(model=model, messages=[
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Hello there"},
    ])
    return {"object": c.object, "content": c.choices[0].message.content, "role": c.choices[0].message.role,
            "finish_reason": c.choices[0].finish_reason, "usage": c.usage.model_dump() if c.usage else None,
            "workflow_id": (c.model_extra or {}).get("parley", {}).get("workflow_id"), "id": c.id}


attempt("plain", plain)


def streamed():
    chunks = list(client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hello again"}],
        stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    return {"chunks": len(chunks), "objects": sorted({c.object for c in chunks}), "content": text, "finish": finish,
            "usage": chunks[-1].usage.model_dump() if chunks[-1].usage else None,
            "usage_only_last": all(c.usage is None for c in chunks[:-1])}


attempt("streamed", streamed)


def with_tools():
    raw = client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": tool_prompt}])
    c = raw.parse()
    return {"content": c.choices[0].message.content, "workflow_id": raw.headers.get("x-parley-workflow-id")}


attempt("tools", with_tools)
attempt("bad_model", lambda: client.chat.completions.create(
    model="no-such-agent", messages=[{"role": "user", "content": "hi"}]).id)
attempt("client_tools", lambda: client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "hi"}],
    tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]).id)
bad = openai.OpenAI(base_url=base_url + "/v1", api_key="pk_wrong", max_retries=0, timeout=60)
attempt("bad_key", lambda: bad.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}]).id)

print(json.dumps(seen))
