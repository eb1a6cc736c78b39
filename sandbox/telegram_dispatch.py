"""The HTTP side of the Telegram emulator: ``/bot{token}/{method}`` calls are authenticated, faults injected,
parameters validated against the Bot API table, the method run, and every call recorded; answers use
Telegram's envelope (``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": ..., ...}``).
``/file/bot{token}/{file_path}`` serves stored files."""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox import telegram_bot_settings, telegram_keyboards, telegram_messages, telegram_updates
from sandbox.telegram_errors import ApiError
from sandbox.telegram_records import ApiCall, Fault
from sandbox.telegram_requests import UploadedFile, read_params
from sandbox.telegram_state import TOKEN_RE, EmulatorState, MethodHandler

log = logging.getLogger("sandbox.telegram")

HANDLERS: dict[str, MethodHandler] = {
    **telegram_bot_settings.HANDLERS,
    **telegram_updates.HANDLERS,
    **telegram_messages.HANDLERS,
    **telegram_keyboards.HANDLERS,
}
"""Every Bot API method the emulator models, by its canonical name."""


def json_error(code: int, description: str, parameters: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=code)


def _summarise(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (len(v.data) if isinstance(v, UploadedFile) else v) for k, v in params.items()}


def _fault_error(fault: Fault) -> ApiError:
    if fault.status == 429:
        retry_after = fault.retry_after if fault.retry_after is not None else 1
        description = fault.description or f"Too Many Requests: retry after {retry_after}"
        return ApiError(429, description, {"retry_after": retry_after})
    defaults = {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        409: "Conflict",
        502: "Bad Gateway",
    }
    description = fault.description or defaults.get(fault.status, "Internal Server Error")
    parameters = {"retry_after": fault.retry_after} if fault.retry_after is not None else None
    return ApiError(fault.status, description, parameters)


class MethodDispatcher:
    """The Starlette endpoints for Bot API calls and file downloads over one emulator state."""

    def __init__(self, emulator: EmulatorState) -> None:
        self.emulator = emulator
        self.handlers = HANDLERS

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self.emulator.faults:
            if fault.method == method.lower() or (fault.method is None and method != "getUpdates"):
                fault.times -= 1
                if fault.times <= 0:
                    self.emulator.faults.remove(fault)
                return fault
        return None

    def _record(
        self, method: str, params: dict[str, Any], started: float, error: ApiError | None, result: Any = None
    ) -> None:
        self.emulator.calls.append(
            ApiCall(
                method,
                _summarise(params),
                error is None,
                error.code if error else None,
                started,
                error.description if error else None,
                result,
            )
        )

    async def handle_api(self, request: Request) -> Response:
        started = time.monotonic()
        token = request.path_params["token"]
        method = self.emulator.validator.method_named(request.path_params["method"])
        bot = self.emulator.bots.get(token)
        if bot is None:
            if TOKEN_RE.fullmatch(token):
                return json_error(401, "Unauthorized")
            return json_error(404, "Not Found")
        if method is None:
            self._record(request.path_params["method"], {}, started, ApiError(404, "Not Found"))
            return json_error(404, "Not Found")
        params: dict[str, Any] = {}
        try:
            params = await read_params(request)
            fault = self._take_fault(method)
            if fault is not None:
                raise _fault_error(fault)
            params = self.emulator.validator.validate(method, params)
            handler = self.handlers.get(method)
            if handler is not None:
                result = await handler(self.emulator, bot, params, request)
            elif self.emulator.validator.returns.get(method) == ["Boolean"]:
                result = True  # a method the emulator does not model: accepted, recorded in calls
            else:
                raise ApiError(501, f"Not Implemented: the Telegram emulator does not implement {method}")
        except ApiError as exc:
            self._record(method, params, started, exc)
            log.debug("%s -> %s %s", method, exc.code, exc.description)
            return json_error(exc.code, exc.description, exc.parameters)
        except Exception:
            self.emulator.errors.append(traceback.format_exc())
            log.exception("emulator error in %s", method)
            error = ApiError(500, "Internal Server Error")
            self._record(method, params, started, error)
            return json_error(500, error.description)
        self._record(method, params, started, None, result)
        return JSONResponse({"ok": True, "result": result})

    async def handle_file(self, request: Request) -> Response:
        bot = self.emulator.bots.get(request.path_params["token"])
        if bot is None:
            return json_error(401, "Unauthorized")
        path = request.path_params["file_path"]
        stored = self.emulator.files.by_path(path)
        if stored is None:
            return json_error(404, "Not Found")
        return Response(stored.data, media_type=stored.mime_type or "application/octet-stream")
