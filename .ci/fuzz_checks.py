"""Schemathesis checks of k911's error contract (loaded through SCHEMATHESIS_HOOKS)."""

import schemathesis


@schemathesis.check
def problem_json_on_4xx(ctx, response, case):
    """Every 4xx answer is an RFC 9457 problem document with its status."""
    if 400 <= response.status_code < 500:
        content_type = response.headers.get("content-type", [""])
        if isinstance(content_type, list):
            content_type = content_type[0] if content_type else ""
        if not content_type.startswith("application/problem+json"):
            raise AssertionError(f"{response.status_code} answered as {content_type!r}")
        body = response.json()
        if body.get("status") != response.status_code:
            raise AssertionError(f"problem status {body.get('status')} != {response.status_code}")
