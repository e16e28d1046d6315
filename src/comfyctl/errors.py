"""The one exception tree of comfyctl.

Every error a caller can meet is a :class:`ComfyError`. Each carries ``code`` (a stable slug for
machines, used as ``error.code`` in ``--json`` output and by agents), ``exit_code`` (the CLI's
process exit status), ``hint`` (what to do next, one line) and ``details`` (a JSON-safe dict of
context). Library exceptions (httpx, websockets, json) are translated at the boundary with
``raise ... from exc``; nothing else escapes for a server condition.

::

    ComfyError                                   code             exit
    ├── UsageError                               usage               2
    ├── WorkflowError  (unreadable/unknown fmt)  bad_workflow        2
    │   ├── ConversionError (UI→API)             conversion_failed   2
    │   └── ParameterError (--set, params)       bad_parameter       2
    ├── ValidationError (offline, node errors)   invalid_workflow    4
    │   └── PromptRejected (server said 400)     prompt_rejected     4
    ├── TransportError                           transport           3
    │   ├── ServerUnreachable                    unreachable         3
    │   └── RequestTimeout (one API call)        request_timeout     7
    ├── HTTPError (unexpected status)            http_error          1
    │   ├── AuthError (401/403, Origin check)    unauthorized        8
    │   ├── NotFound (404)                       not_found           1
    │   ├── RequestTooLarge (413)                too_large           2
    │   ├── ResponseTooLarge (over the JSON cap) response_too_large  1
    │   └── ServerError (5xx, with log tail)     server_error        9
    ├── JobError (a prompt that did not succeed)
    │   ├── ExecutionError (a node raised)       execution_failed    5
    │   ├── Interrupted (incl. cancelled)        interrupted         6
    │   └── JobLost (in neither queue/history)   job_lost            5
    ├── WaitTimeout (wait/run gave up)           timeout             7
    ├── UnsafePath (hostile server file name)    unsafe_path         1
    └── LocalIOError (disk full, permissions)    local_io           10

Errors raised once a prompt id was chosen (submit, wait, download) carry it as
``details["prompt_id"]``: the prompt may be on the server whatever failed here.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthError",
    "ComfyError",
    "ConversionError",
    "ExecutionError",
    "HTTPError",
    "Interrupted",
    "JobError",
    "JobLost",
    "LocalIOError",
    "NodeProblem",
    "NotFound",
    "ParameterError",
    "PromptRejected",
    "RequestTimeout",
    "RequestTooLarge",
    "ResponseTooLarge",
    "ServerError",
    "ServerUnreachable",
    "TransportError",
    "UnsafePath",
    "UsageError",
    "ValidationError",
    "WaitTimeout",
    "WorkflowError",
]

# Hints in API terms (a Python user or an MCP agent reads them); the CLI's error boundary says
# the same in commands and flags. Named so the CLI can recognise them.
#: A 404 on a route every ComfyUI serves.
NO_API_HINT = "no ComfyUI API at this URL: check the URL (host, port, path prefix)"
#: A node failed while the prompt ran.
EXECUTION_HINT = (
    "fix what the node reports and run again; history_entry(prompt_id) has the server's traceback"
)
#: ``Job.wait(timeout)`` gave up; the prompt did not.
WAIT_TIMEOUT_HINT = "the prompt keeps going: wait for the job again, or cancel(prompt_id)"


class ComfyError(Exception):
    """Base of every comfyctl error: a message plus machine-readable context."""

    code = "error"
    exit_code = 1
    default_hint = ""

    def __init__(self, message: str, *, hint: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        """The ``{"code", "message", "hint", "details"}`` shape used by ``--json`` and agents."""
        return {"code": self.code, "message": self.message, "hint": self.hint, "details": self.details}


class UsageError(ComfyError):
    """The caller asked for something that cannot be done as asked (bad option, bad argument)."""

    code = "usage"
    exit_code = 2


class WorkflowError(ComfyError):
    """A workflow could not be read: not JSON, not a workflow, or neither API nor UI format."""

    code = "bad_workflow"
    exit_code = 2


class ConversionError(WorkflowError):
    """A UI-format workflow cannot be converted (unknown node type, dangling link, ...)."""

    code = "conversion_failed"


class ParameterError(WorkflowError):
    """A parameter override names no node/input, is ambiguous, or has a value of the wrong type."""

    code = "bad_parameter"


class NodeProblem(dict[str, Any]):
    """One problem on one node input, in the server's own wording.

    A plain dict so it serialises as-is: ``node_id``, ``class_type``, ``type`` (the server's error
    type, e.g. ``value_smaller_than_min``), ``message``, ``details``, ``input_name`` (or None) and
    ``text`` (one readable line, e.g. ``node 7 (KSampler) input 'steps': 0 is below the minimum 1``).
    """


class ValidationError(ComfyError):
    """A workflow is invalid; ``problems`` lists every node and input at fault."""

    code = "invalid_workflow"
    exit_code = 4
    default_hint = "fix the inputs listed above; object_info(CLASS) lists the valid values"

    def __init__(
        self,
        message: str,
        *,
        problems: list[NodeProblem] | None = None,
        hint: str | None = None,
        details: dict[str, Any] | None = None,
    ):
        self.problems: list[NodeProblem] = list(problems or [])
        merged = {"problems": [dict(p) for p in self.problems]}
        merged.update(details or {})
        super().__init__(message, hint=hint, details=merged)


class PromptRejected(ValidationError):
    """The server answered 400 to POST /prompt. ``body`` is its JSON answer, untouched."""

    code = "prompt_rejected"

    def __init__(self, message: str, *, body: Any, problems: list[NodeProblem] | None = None, **kw: Any):
        self.body = body
        super().__init__(message, problems=problems, **kw)


class TransportError(ComfyError):
    """The request did not get an HTTP answer."""

    code = "transport"
    exit_code = 3


class ServerUnreachable(TransportError):
    """Nothing answers at the URL (connection refused, DNS failure, TLS failure)."""

    code = "unreachable"
    exit_code = 3


class RequestTimeout(TransportError):
    """One API call took longer than its timeout."""

    code = "request_timeout"
    exit_code = 7
    default_hint = "the server is slow or busy: retry, or raise the timeout (timeout=, COMFYUI_TIMEOUT)"


class HTTPError(ComfyError):
    """The server answered with a status the operation does not expect."""

    code = "http_error"
    exit_code = 1

    def __init__(self, message: str, *, status: int, method: str, url: str, body: str = "", **kw: Any):
        self.status = status
        self.method = method
        self.url = url
        self.body = body
        details = {"status": status, "method": method, "url": url, "body": body[:2000]}
        details.update(kw.pop("details", None) or {})
        super().__init__(message, details=details, **kw)


class AuthError(HTTPError):
    """401/403: a missing or wrong token, or ComfyUI's Origin check refused the request."""

    code = "unauthorized"
    exit_code = 8
    default_hint = "give a token (token=, COMFYUI_TOKEN), or check the credentials in the URL"


class NotFound(HTTPError):
    """404 on a route or file."""

    code = "not_found"


class RequestTooLarge(HTTPError):
    """413: the body is over the server's --max-upload-size (it applies to every request)."""

    code = "too_large"
    exit_code = 2
    default_hint = "send a smaller file, or start ComfyUI with a larger --max-upload-size"


class ResponseTooLarge(HTTPError):
    """A JSON answer is larger than ``Settings.max_response_bytes``: reading stopped at the cap
    (a broken proxy or custom node could otherwise exhaust memory)."""

    code = "response_too_large"
    exit_code = 1
    default_hint = (
        "raise the cap (Settings.max_response_bytes, COMFYUI_MAX_RESPONSE_MB) if the server is "
        "right to send this much"
    )


class ServerError(HTTPError):
    """5xx: ComfyUI failed. ``log_tail`` holds the last lines of its log when it could be read."""

    code = "server_error"
    exit_code = 9
    default_hint = "ComfyUI failed on this request: check its log, and restart it if this persists"

    def __init__(self, message: str, *, log_tail: str | None = None, **kw: Any):
        self.log_tail = log_tail
        super().__init__(message, **kw)
        if log_tail:
            self.details["log_tail"] = log_tail


class JobError(ComfyError):
    """A submitted prompt did not finish successfully. ``prompt_id`` names it."""

    def __init__(self, message: str, *, prompt_id: str, **kw: Any):
        self.prompt_id = prompt_id
        details = {"prompt_id": prompt_id}
        details.update(kw.pop("details", None) or {})
        super().__init__(message, details=details, **kw)


class ExecutionError(JobError):
    """A node raised while the prompt ran.

    ``current_inputs`` is kept off ``details`` by default: the server puts the whole prompt and
    hidden values there, which can hold secrets.
    """

    code = "execution_failed"
    exit_code = 5

    def __init__(
        self,
        message: str,
        *,
        prompt_id: str,
        node_id: str | None = None,
        node_type: str | None = None,
        exception_type: str | None = None,
        exception_message: str | None = None,
        traceback: list[str] | None = None,
        **kw: Any,
    ):
        self.node_id = node_id
        self.node_type = node_type
        self.exception_type = exception_type
        self.exception_message = exception_message
        self.traceback = list(traceback or [])
        details = {
            "node_id": node_id,
            "node_type": node_type,
            "exception_type": exception_type,
            "exception_message": exception_message,
        }
        details.update(kw.pop("details", None) or {})
        super().__init__(message, prompt_id=prompt_id, details=details, **kw)


class Interrupted(JobError):
    """The prompt was interrupted or cancelled before it finished."""

    code = "interrupted"
    exit_code = 6


class JobLost(JobError):
    """The prompt is in neither the queue nor the history (server restarted, or deleted)."""

    code = "job_lost"
    exit_code = 5
    # ComfyUI 0.8.0 keeps no trace of a prompt deleted from the queue: a cancel by another
    # client looks exactly like a restart
    default_hint = (
        "check the id; else another client removed it (cancel, queue rm, history rm) or the "
        "server restarted: submit it again if you still need it"
    )


class WaitTimeout(ComfyError):
    """Waiting for a prompt gave up after the caller's timeout; the prompt may still run."""

    code = "timeout"
    exit_code = 7

    def __init__(self, message: str, *, prompt_id: str | None = None, **kw: Any):
        self.prompt_id = prompt_id
        details = {"prompt_id": prompt_id}
        details.update(kw.pop("details", None) or {})
        super().__init__(message, details=details, **kw)


class UnsafePath(ComfyError):
    """A server-supplied file name or subfolder would write outside the chosen folder."""

    code = "unsafe_path"
    exit_code = 1


class LocalIOError(ComfyError):
    """Writing a local file failed (disk full, quota, permissions, a folder in the way).

    Not a usage error: the same command works once the disk has room. ``details`` holds the
    ``path`` and ``errno`` (and ``prompt_id`` when the file was a prompt's output).
    """

    code = "local_io"
    exit_code = 10
