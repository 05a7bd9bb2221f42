"""The FastAPI application: pages (Jinja2), the JSON API, /healthz and /metrics.

A runner only: every action calls the service layer or a pipeline (DESIGN: no sync logic here).
Secrets are write-only: no template or API answer ever receives one. Around the routes, outermost
first: the security headers, the body limits (:mod:`learnsync.web.limits`), the session check;
every ``{..._id}`` is ``{..._id:id}`` (1 to 18 digits: a longer id is a 404).
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request, Response
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from learnsync.errors import LearnsyncError
from learnsync.service import insights
from learnsync.service.audit import AuditAction
from learnsync.service.auth import SESSION_LIFETIME, LoginThrottled
from learnsync.service.core import Service
from learnsync.service.importing import import_integration
from learnsync.service.integrations import SECRET_FIELDS, CredentialsRefused, IntegrationInput
from learnsync.service.setup import (
    check_unsaved,
    form_words,
    setup_integration,
    verify_credentials,
)
from learnsync.store.service_repository import SETTING_COLUMNS, IntegrationSettings
from learnsync.web import (
    charts,
    errors,
    filters_view,
    fleet,
    forms,
    metrics,
    notices,
    present,
    runs_view,
    views,
)
from learnsync.web.limits import BodyLimitMiddleware, RowId
from learnsync.web.security import (
    HOME,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SecurityHeadersMiddleware,
    SessionMiddleware,
    csrf_guard,
    login_url,
    metrics_allowed,
    metrics_token_from_env,
    new_login_csrf,
    safe_next,
    security_headers,
)

HERE = Path(__file__).parent


def create_app(
    service: Service, *, secure_cookies: bool = False, metrics_token: str | None = None
) -> FastAPI:
    """``secure_cookies``: served over HTTPS (``Secure`` cookies, Strict-Transport-Security).
    ``metrics_token``: the bearer token ``/metrics`` needs (default: ``LEARNSYNC_METRICS_TOKEN``;
    neither: anonymous)."""
    headers = security_headers(hsts=secure_cookies)
    token = metrics_token or metrics_token_from_env()
    app = FastAPI(
        title="learnsync",
        summary="Coursera for Business → 360Learning connector service",
        # FastAPI's own Swagger UI and ReDoc pages load scripts from a CDN and run inline ones:
        # /api/docs (below) serves a vendored Swagger UI instead, to signed-in administrators
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        dependencies=[Depends(csrf_guard)],
    )
    # the last added runs first: headers on every answer, then the body limits, then sessions
    # the non-secret fields of forms posted after their session ended (web/forms.py)
    drafts = forms.Drafts()
    app.add_middleware(SessionMiddleware, auth=service.auth, drafts=drafts)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, headers=headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        # sent by Starlette's outermost middleware, past SecurityHeadersMiddleware: the headers
        # are set here; the exception goes on to the server's log (JSON, learnsync serve)
        return PlainTextResponse("Internal Server Error", status_code=500, headers=dict(headers))

    app.add_exception_handler(Exception, server_error)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    present.install(templates.env, service.clock)
    app.state.service = service

    def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
        heading, sentence = errors.describe(status)
        return page(
            request,
            "error.html",
            status,
            status=status,
            error_page=True,  # no section of the main nav is "current"
            heading=heading,
            sentence=sentence,
            detail=detail,
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not errors.wants_page(request):
            return await http_exception_handler(request, exc)
        response = error_page(request, exc.status_code, str(exc.detail or ""))
        response.headers.update(exc.headers or {})
        return response

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not errors.wants_page(request):
            return await request_validation_exception_handler(request, exc)
        return error_page(request, 422, "")

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        session = getattr(request.state, "session", None)
        notice = notices.take(request)
        item = context.get("item")
        response = templates.TemplateResponse(
            request,
            name,
            {
                "session": session,
                "csrf_token": session.csrf_token if session else "",
                "notice": notice,
                # times on an integration's pages read in its schedule's zone
                "zone": views.zone_of(service, item.id) if item is not None else None,
                **context,
            },
            status_code=status_code,
        )
        if notices.COOKIE in request.cookies:
            response.delete_cookie(notices.COOKIE)
        return response

    def integration_or_404(integration_id: int) -> IntegrationSettings:
        try:
            return service.integrations.get(integration_id)
        except LookupError:
            raise HTTPException(404, "no such integration") from None

    def client_of(request: Request) -> str | None:
        return request.client.host if request.client else None

    def audit(
        request: Request, action: AuditAction, integration_id: int | None = None, detail: str = ""
    ) -> None:
        """One entry of the audit log: the signed-in administrator, from the request's address
        (the detail names what changed, never a value)."""
        session = request.state.session
        actor = session.username if session is not None else "?"
        service.auth.audit.record(actor, action, integration_id, detail, client=client_of(request))

    # ------------------------------------------------------------------ public

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        service.repo.count_users()  # the database answers
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint(request: Request) -> PlainTextResponse:
        if not metrics_allowed(request, token):
            return PlainTextResponse(
                "a bearer token is needed\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return PlainTextResponse(
            metrics.render(service), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    @app.get("/login", include_in_schema=False)
    def login_page(
        request: Request,
        error: str = "",
        next_path: str = Query("", alias="next"),
        expired: str = "",
    ) -> HTMLResponse:
        # keep the token of an earlier load: a browser's side requests (the favicon, redirected
        # here) must not rotate it under the form the administrator is filling
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf()
        response = page(
            request,
            "login.html",
            login_csrf=token,
            error=error,
            next_path=safe_next(next_path) or "",
            expired=bool(expired),
            restores="draft=" in (safe_next(next_path) or ""),
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE, token, httponly=True, samesite="lax", secure=secure_cookies
        )
        return response

    @app.post("/login", include_in_schema=False)
    def login(
        request: Request,
        username: str = Form(""),
        password: str = Form(""),
        next_path: str = Form("", alias="next"),
    ) -> Response:
        target = safe_next(next_path)
        try:  # sign-ins, failures and lockouts go to the audit log inside login()
            token = service.auth.login(username, password, client_of(request))
        except LoginThrottled as exc:
            refused = page(
                request,
                "login.html",
                429,
                login_csrf=request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf(),
                throttled=exc.retry_after,
                next_path=target or "",
                username=username.strip()[:200],
            )
            refused.headers["Retry-After"] = str(exc.retry_after)
            return refused
        if token is None:
            return RedirectResponse(login_url(target, error="1"), status_code=303)
        # back where the administrator was going (a page on this site only), else the list
        response = RedirectResponse(target or HOME, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="lax",
            secure=secure_cookies,
            max_age=int(SESSION_LIFETIME.total_seconds()),
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE)
        return response

    # ------------------------------------------------------------------ pages

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        service.auth.logout(request.cookies.get(SESSION_COOKIE), client=client_of(request))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return notices.flash(response, "signed_out")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/integrations", status_code=303)

    @app.get("/integrations", include_in_schema=False)
    def integrations_page(request: Request) -> HTMLResponse:
        items = service.integrations.repo.list_integrations()
        status = fleet.fleet_status(service)
        rows = [
            {
                **views.summary(service, s),
                "limits": fleet.row_limits(status, s),
                "zone": views.zone_of(service, s.id),
            }
            for s in items
        ]
        return page(
            request,
            "integrations.html",
            rows=rows,
            fleet=status,
            labels=fleet.key_labels(items),
        )

    def settings_form(
        request: Request,
        item: IntegrationSettings | None,
        form: IntegrationInput,
        problems: forms.Problems | None = None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        """The settings page: ``problems`` marked on their fields and listed at the top."""
        if problems is not None and not problems:
            problems = None
        if problems is not None and status_code == 200:
            status_code = 400
        return page(
            request,
            "settings.html",
            status_code,
            item=item,
            form=form,
            problems=problems,
            errors=problems.errors if problems else {},
            labels=forms.SETTINGS_LABELS,
            **context,
        )

    def draft_of(request: Request, key: str) -> dict[str, str] | None:
        """The draft ``key`` kept for this administrator on this page (then forgotten)."""
        session = request.state.session
        if not key or session is None:
            return None
        return drafts.take(key, session.user_id, request.url.path)

    def draft_input(values: dict[str, str], item: IntegrationSettings | None) -> IntegrationInput:
        """A settings draft as the form shows it (secrets blank: they are never kept)."""
        names = inspect.signature(views.form_input).parameters
        posted = {name: values.get(name, "") for name in names if name not in SECRET_FIELDS}
        posted.update(dict.fromkeys(SECRET_FIELDS, ""))
        if not posted["label"] and item is not None:
            posted["label"] = item.label
        return views.form_input(**posted)

    def save_problems_of(exc: Exception) -> forms.Problems:
        return forms.save_problems(exc.message if isinstance(exc, LearnsyncError) else str(exc))

    @app.get("/integrations/new", include_in_schema=False)
    def new_integration_page(request: Request, draft: str = "") -> HTMLResponse:
        values = draft_of(request, draft)
        if values is not None:
            return settings_form(request, None, draft_input(values, None), restored=True)
        return settings_form(request, None, IntegrationInput(label="Coursera"))

    @app.post("/integrations/new", include_in_schema=False)
    def create_integration(
        request: Request, form: IntegrationInput = Depends(views.form_input)
    ) -> Response:
        problems = forms.settings_problems(form, policy=service.integrations.policy)
        if problems:
            return settings_form(request, None, form, problems)
        try:
            new_id = service.integrations.save(form)
        except (LearnsyncError, ValueError) as exc:
            return settings_form(request, None, form, save_problems_of(exc))
        audit(request, AuditAction.SETTINGS_CHANGED, new_id, "integration created")
        response = RedirectResponse(f"/integrations/{new_id}", status_code=303)
        return notices.flash(response, "created")

    @app.get("/integrations/{integration_id:id}", include_in_schema=False)
    def settings_page(request: Request, integration_id: RowId, draft: str = "") -> HTMLResponse:
        item = integration_or_404(integration_id)
        values = draft_of(request, draft)
        if values is not None:
            return settings_form(request, item, draft_input(values, item), restored=True)
        return settings_form(request, item, views.input_of(item))

    @app.post("/integrations/{integration_id:id}", include_in_schema=False)
    def save_settings(
        request: Request,
        integration_id: RowId,
        action: str = Form("save"),
        form: IntegrationInput = Depends(views.form_input),
    ) -> Response:
        item = integration_or_404(integration_id)
        problems = forms.settings_problems(
            form,
            stored_secrets=[k for k in SECRET_FIELDS if getattr(item, f"has_{k}", False)],
            before={k: getattr(item, k) for k in SETTING_COLUMNS},
            policy=service.integrations.policy,
        )
        if problems:
            return settings_form(request, item, form, problems)
        record = service.store.get_integration(integration_id)
        known = record.remote_integration_id if record is not None else None
        try:
            # changed credentials are checked before they replace the stored ones
            service.integrations.save(form, integration_id, verify=verify_credentials)
        except (LearnsyncError, ValueError) as exc:
            refused = save_problems_of(exc)
            if action == "setup" and isinstance(exc, CredentialsRefused):
                # Setup integration with them anyway, nothing stored: the failed check, its
                # field and the checks it held back are shown (the stored setup status stays)
                result = check_unsaved(service.integrations, integration_id, form, known_id=known)
                problems = forms.unsaved_setup_problems(str(exc), result)
                return settings_form(request, item, form, problems, setup=result)
            return settings_form(request, item, form, refused)
        changed = views.changed_fields(item, form)
        if changed:
            audit(request, AuditAction.SETTINGS_CHANGED, integration_id, changed)
        if action != "setup":
            response = RedirectResponse(f"/integrations/{integration_id}", status_code=303)
            return notices.flash(response, "saved")
        result = setup_integration(service.integrations.config(integration_id), known_id=known)
        if result.remote_integration_id and not known:
            service.store.set_remote_integration_id(integration_id, result.remote_integration_id)
        service.repo.set_setup_result(
            integration_id, "ok" if result.ok else "error", result.summary()
        )
        if any(c.name == "Coursera credentials" and c.status == "ok" for c in result.checks):
            service.repo.mark_token_used(integration_id)
        audit(request, AuditAction.SETUP, integration_id, "passed" if result.ok else "failed")
        item = integration_or_404(integration_id)
        return settings_form(
            request,
            item,
            views.input_of(item),
            None if result.ok else forms.setup_problems(result),
            200 if result.ok else 400,
            setup=result,
        )

    # ------------------------------------------------------------------ filters (Step 4)

    @app.get("/integrations/{integration_id:id}/languages", include_in_schema=False)
    def languages_page(request: Request, integration_id: RowId, add: str = "") -> HTMLResponse:
        """``add=1``: the Add languages dialog open (the button without JavaScript)."""
        item = integration_or_404(integration_id)
        view = filters_view.filters_view(service, integration_id)
        return page(request, "languages.html", item=item, view=view, adding=add == "1")

    @app.get("/integrations/{integration_id:id}/content-types", include_in_schema=False)
    def content_types_page(request: Request, integration_id: RowId) -> HTMLResponse:
        item = integration_or_404(integration_id)
        view = filters_view.filters_view(service, integration_id)
        return page(request, "content_types.html", item=item, view=view)

    def filters_confirmation(
        request: Request,
        item: IntegrationSettings,
        which: str,
        values: list[str],
        *,
        unchanged: bool = False,
    ) -> Response:
        """The confirmation page of a save without JavaScript: what it archives and restores,
        by title; nothing changed: back to the list, saying so (``unchanged``: the page
        anyway, as the form's first step always showed it)."""
        try:
            chosen = filters_view.chosen(
                service, item.id, **filters_view.form_change(which, values)
            )
        except LearnsyncError as exc:
            return page(
                request, "preview.html", 400, item=item, which=which, error=form_words(exc.message)
            )
        preview = filters_view.preview(service, item.id, chosen)
        if not preview.changed and not unchanged:
            back = RedirectResponse(filters_view.page_path(item.id, which), status_code=303)
            return notices.flash(back, "filters_nothing")
        return page(
            request,
            "preview.html",
            item=item,
            which=filters_view.which_of(which),
            values=sorted(getattr(chosen, filters_view.which_of(which))),
            preview=preview,
            archive=filters_view.courses(preview.archive, 0, filters_view.PAGE_TITLES),
            restore=filters_view.courses(preview.restore, 0, filters_view.PAGE_TITLES),
            summary=filters_view.summary(len(preview.archive), len(preview.restore)),
            confirm_label=filters_view.confirm_label(len(preview.archive), len(preview.restore)),
        )

    @app.get("/integrations/{integration_id:id}/filters/confirm", include_in_schema=False)
    def confirm_filters(
        request: Request,
        integration_id: RowId,
        which: str = "languages",
        value: list[str] = Query([]),
        remove: str = "",
    ) -> Response:
        """A page's Save (or a language's Remove) without JavaScript: the confirmation page
        (a GET: reloading it re-posts nothing)."""
        item = integration_or_404(integration_id)
        values = [v for v in value if v != remove] if remove else value
        return filters_confirmation(request, item, which, values)

    @app.post("/integrations/{integration_id:id}/filters", include_in_schema=False)
    async def save_filters(request: Request, integration_id: RowId) -> Response:
        """``confirm=1`` (the confirmation page's button): save the filters — submit the
        ``filters`` run that archives and restores; its page shows it. Without ``confirm``:
        the confirmation page, as ``GET …/filters/confirm`` shows it."""
        item = integration_or_404(integration_id)
        form = await request.form()
        which = filters_view.which_of(str(form.get("which", "languages")))
        values = [str(v) for v in form.getlist("value")]
        if form.get("confirm") != "1":
            return filters_confirmation(request, item, which, values, unchanged=True)
        try:
            chosen = filters_view.chosen(
                service, integration_id, **filters_view.form_change(which, values)
            )
        except LearnsyncError as exc:
            return page(
                request, "preview.html", 400, item=item, which=which, error=form_words(exc.message)
            )
        before = filters_view.saved_filters(service, integration_id)
        run_id = filters_view.save(service, integration_id, chosen, unchanged=True)
        assert run_id is not None
        detail = f"{filters_view.what_changed(before, chosen)} (run {run_id})"
        audit(request, AuditAction.FILTERS_CHANGED, integration_id, detail)
        return RedirectResponse(f"/integrations/{integration_id}/runs/{run_id}", 303)

    @app.get("/integrations/{integration_id:id}/filters/runs/{run_id:id}", include_in_schema=False)
    def filters_saved(
        request: Request, integration_id: RowId, run_id: RowId, back: str = "languages"
    ) -> RedirectResponse:
        """Where a page goes once its save's run ended: back to the list with the confirmation
        ("Filters saved: 112 courses archived, 0 restored."); a run that failed or has not
        ended yet: its page."""
        integration_or_404(integration_id)
        run = views.run_json(service, run_id)
        if run is None or run["integration_id"] != integration_id or run["kind"] != "filters":
            raise HTTPException(404, "no such filter save")
        notice = filters_view.done_notice(run)
        if notice is None:
            return RedirectResponse(f"/integrations/{integration_id}/runs/{run_id}", 303)
        key, numbers = notice
        response = RedirectResponse(filters_view.page_path(integration_id, back), 303)
        notices.flash(response, key, *numbers)
        return response

    @app.get("/integrations/{integration_id:id}/runs", include_in_schema=False)
    def runs_page(
        request: Request,
        integration_id: RowId,
        status: str = "",
        order: str = "",
        page_number: int = Query(1, alias="page"),
    ) -> HTMLResponse:
        """The run history, paged back to the retention, with counts per status; the run going
        now shown live, and Sync now disabled while one is queued or running."""
        item = integration_or_404(integration_id)
        history = runs_view.runs_page(
            service, integration_id, status=status, order=order, page=page_number
        )
        live = runs_view.current_run(service, integration_id)
        return page(request, "runs.html", item=item, history=history, live=live)

    @app.get("/integrations/{integration_id:id}/runs/{run_id:id}", include_in_schema=False)
    def run_page(
        request: Request,
        integration_id: RowId,
        run_id: RowId,
        failed_page: int = 1,
        skipped_page: int = 1,
    ) -> HTMLResponse:
        item = integration_or_404(integration_id)
        view = runs_view.run_view(
            service, integration_id, run_id, failed_page=failed_page, skipped_page=skipped_page
        )
        if view is None:
            raise HTTPException(404, "no such run")
        return page(request, "run.html", item=item, run=view.run, view=view)

    @app.get(
        "/integrations/{integration_id:id}/runs/{run_id:id}/items.csv", include_in_schema=False
    )
    def run_items_csv(integration_id: RowId, run_id: RowId) -> Response:
        """The run's kept failed and skipped items (reason, course, title, learner) as CSV."""
        integration_or_404(integration_id)
        text = runs_view.items_csv(service, integration_id, run_id)
        if text is None:
            raise HTTPException(404, "no such run")
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="run-{run_id}-items.csv"',
                "Cache-Control": "no-store",
            },
        )

    @app.post("/integrations/{integration_id:id}/sync/{kind}", include_in_schema=False)
    def sync_now(request: Request, integration_id: RowId, kind: str) -> RedirectResponse:
        """Submit a run (queued behind any run of the integration); its progress is shown."""
        integration_or_404(integration_id)
        if kind not in ("content", "stats"):
            raise HTTPException(404, "unknown run kind")
        run_id = service.runs.start(integration_id, kind)
        audit(request, AuditAction.SYNC_NOW, integration_id, f"{kind} (run {run_id})")
        response = RedirectResponse(f"/integrations/{integration_id}/runs", status_code=303)
        notices.flash(response, "sync_queued", run_id)
        return response

    def run_or_404(run_id: int) -> dict[str, Any]:
        run = views.run_json(service, run_id)
        if run is None:
            raise HTTPException(404, "no such run")
        return run

    @app.post("/runs/{run_id:id}/cancel", include_in_schema=False)
    def cancel_run(request: Request, run_id: RowId, back: str = Form("")) -> RedirectResponse:
        """Cancel a run: a queued one at once, a running one at its next progress step; back to
        the Runs list (``back=runs``) or the run's page."""
        run = run_or_404(run_id)
        outcome = service.runs.cancel(run_id)
        audit(request, AuditAction.CANCEL, run["integration_id"], f"run {run_id}")
        where = f"/integrations/{run['integration_id']}/runs"
        response = RedirectResponse(where if back == "runs" else f"{where}/{run_id}", 303)
        key = {"cancelled": "run_cancelled", "cancelling": "cancel_asked"}.get(outcome, "run_ended")
        notices.flash(response, key, run_id)
        return response

    def schedules_form(
        request: Request,
        item: IntegrationSettings,
        values: dict[str, str] | None = None,
        problems: forms.Problems | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """The schedules page; ``values``: what was posted (shown instead of the stored)."""
        rows = views.schedules_of(service, item.id)
        if values is not None:
            rows = [
                {
                    **row,
                    "time_of_day": values.get(f"{row['kind']}_time", ""),
                    "timezone": values.get(f"{row['kind']}_timezone", ""),
                    "enabled": values.get(f"{row['kind']}_enabled") in ("1", "on"),
                }
                for row in rows
            ]
        return page(
            request,
            "schedules.html",
            400 if problems else 200,
            item=item,
            rows=rows,
            problems=problems or None,
            errors=problems.errors if problems else {},
            **context,
        )

    @app.get("/integrations/{integration_id:id}/schedules", include_in_schema=False)
    def schedules_page(request: Request, integration_id: RowId, draft: str = "") -> HTMLResponse:
        item = integration_or_404(integration_id)
        values = draft_of(request, draft)
        return schedules_form(request, item, values, restored=values is not None)

    @app.post("/integrations/{integration_id:id}/schedules", include_in_schema=False)
    async def save_schedules(request: Request, integration_id: RowId) -> Response:
        item = integration_or_404(integration_id)
        form = await request.form()
        values = {
            f"{kind}_{part}": str(form.get(f"{kind}_{part}", ""))
            for kind in forms.SCHEDULE_KINDS
            for part in ("time", "timezone", "enabled")
        }
        problems = forms.schedule_problems(values)
        if problems:  # both checked before either is saved
            return schedules_form(request, item, values, problems)
        try:
            for kind in forms.SCHEDULE_KINDS:
                views.save_schedule(
                    service,
                    integration_id,
                    kind,
                    values[f"{kind}_time"],
                    values[f"{kind}_timezone"],
                    values[f"{kind}_enabled"] in ("1", "on"),
                )
        except LearnsyncError as exc:
            failed = forms.Problems(forms.schedule_labels())
            failed.add(exc.message)
            return schedules_form(request, item, values, failed)
        audit(request, AuditAction.SCHEDULE_CHANGED, integration_id, "content and statistics")
        response = RedirectResponse(f"/integrations/{integration_id}/schedules", 303)
        return notices.flash(response, "schedules_saved")

    @app.get("/integrations/{integration_id:id}/catalog", include_in_schema=False)
    def catalog_page(
        request: Request,
        integration_id: RowId,
        q: str = "",
        language: str = "",
        content_type: str = "",
        state: str = "",
        sort: str = "title",
        direction: str = Query("asc", alias="dir"),
        page_number: int = Query(1, alias="page"),
        per_page: int = insights.PAGE_SIZE,
    ) -> HTMLResponse:
        """The synchronized content: search, filters, state chips, sortable columns, pages."""
        item = integration_or_404(integration_id)
        criteria = {"q": q, "language": language, "content_type": content_type, "state": state}
        result = _catalog(item, criteria, page_number, sort, direction, per_page)
        return page(
            request,
            "catalog.html",
            item=item,
            result=result,
            criteria=criteria,
            query=_catalog_query(criteria, result),
            reasons=views.FRIENDLY,
            last_run=_last_run(integration_id, "content"),
        )

    def _catalog(
        item: IntegrationSettings,
        criteria: dict[str, str],
        page_number: int,
        sort: str = "title",
        direction: str = "asc",
        per_page: int = insights.PAGE_SIZE,
    ) -> insights.CatalogPage:
        return insights.catalog(
            service.store,
            service.store.get_integration(item.id),
            query=criteria["q"],
            language=criteria["language"],
            content_type=criteria["content_type"],
            state=criteria["state"],
            page=page_number,
            page_size=per_page,
            sort=sort,
            direction=direction,
        )

    @app.get("/integrations/{integration_id:id}/statistics", include_in_schema=False)
    def statistics_page(request: Request, integration_id: RowId) -> HTMLResponse:
        item = integration_or_404(integration_id)
        stats = _statistics(integration_id)
        days = stats.days
        edges = {
            "first": charts.day_label(days[0], weekday=False) if days else "",
            "last": charts.day_label(days[-1], weekday=False) if days else "",
        }
        labels = [charts.day_label(d) for d in days]
        return page(
            request,
            "statistics.html",
            item=item,
            stats=stats,
            last_run=_last_run(integration_id, "stats"),
            as_of=service.clock(),
            period=f"{edges['first']} to {edges['last']} {days[-1].year}" if days else "",
            completions_chart=charts.bar_chart(
                list(zip(labels, stats.completions, strict=True)),
                title="Completions per day",
                unit="completion",
                **edges,
            ),
            learners_chart=charts.bar_chart(
                list(zip(labels, stats.active_learners, strict=True)),
                title="Active learners per day",
                unit="learner",
                heading="Active learners",
                **edges,
            ),
        )

    def _last_run(integration_id: int, kind: str) -> dict[str, Any] | None:
        """The integration's newest finished run of ``kind`` among its last 20 runs."""
        runs = views.runs_of(service, integration_id, 20)
        return next((r for r in runs if r["kind"] == kind and r["finished_at"]), None)

    def _statistics(integration_id: int) -> insights.Statistics:
        item = integration_or_404(integration_id)
        stats = insights.statistics(
            service.store, service.store.get_integration(item.id), service.clock()
        )
        try:
            stats.unmatched = views.unmatched_of(service, integration_id)
        except LearnsyncError:
            stats.unmatched, stats.unmatched_available = [], False
        return stats

    @app.get("/audit", include_in_schema=False)
    def audit_page(request: Request) -> HTMLResponse:
        """Who did what, newest first (sign-ins, settings, setup, filters, schedules, runs)."""
        return page(request, "audit.html", entries=service.auth.audit.recent(200))

    @app.get("/api/audit", tags=["audit"])
    def api_audit(limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        """The newest entries of the audit log (no secret: details name what changed)."""
        return [views.audit_json(entry) for entry in service.auth.audit.recent(limit)]

    @app.get("/import", include_in_schema=False)
    def import_page(request: Request) -> HTMLResponse:
        return page(request, "import.html", errors={}, labels=forms.IMPORT_LABELS)

    @app.post("/import", include_in_schema=False)
    async def import_config(request: Request) -> Response:
        form = await request.form()
        upload = form.get("config")
        typed = str(form.get("label", ""))
        label = typed.strip() or "Coursera"
        data = await upload.read() if isinstance(upload, UploadFile) else str(upload or "").encode()
        await form.close()  # the upload's temporary file: closed now, not when collected
        try:
            new_id, updated = import_integration(service, data, label)
        except (LearnsyncError, ValueError) as exc:
            message = exc.message if isinstance(exc, LearnsyncError) else str(exc)
            problems = forms.import_problems(message, label)
            return page(
                request,
                "import.html",
                400,
                problems=problems,
                errors=problems.errors,
                labels=forms.IMPORT_LABELS,
                label=label,
            )
        audit(request, AuditAction.IMPORT, new_id, "updated" if updated else "created")
        response = RedirectResponse(f"/integrations/{new_id}", 303)
        return notices.flash(response, "import_updated" if updated else "imported")

    # ------------------------------------------------------------------ JSON API

    @app.get("/api/docs", include_in_schema=False)
    def api_docs_page(request: Request) -> HTMLResponse:
        """The API reference: Swagger UI from learnsync's own static files (static/vendor/: no
        CDN, under the pages' strict CSP), reading ``/api/openapi.json``; for developers, linked
        from every page's footer."""
        return page(request, "api_docs.html")

    @app.get("/api/integrations", tags=["integrations"])
    def api_integrations() -> list[dict[str, Any]]:
        """Every integration with its health, last runs and next run times (no secret)."""
        return [views.summary(service, s) for s in service.repo.list_integrations()]

    @app.get("/api/integrations/{integration_id:id}", tags=["integrations"])
    def api_integration(integration_id: RowId) -> dict[str, Any]:
        return views.summary(service, integration_or_404(integration_id))

    @app.post("/api/integrations", tags=["integrations"], status_code=201)
    def api_create_integration(request: Request, body: IntegrationInput) -> dict[str, Any]:
        """A new integration from its settings (the settings form's fields; secrets write-only)."""
        try:
            new_id = service.integrations.save(body)
        except (LearnsyncError, ValueError) as exc:
            raise HTTPException(400, _msg(exc)) from None
        audit(request, AuditAction.SETTINGS_CHANGED, new_id, "integration created (API)")
        return views.summary(service, integration_or_404(new_id))

    @app.put("/api/integrations/{integration_id:id}", tags=["integrations"])
    def api_update_integration(
        request: Request, integration_id: RowId, body: IntegrationInput
    ) -> dict[str, Any]:
        """Replace the settings (blank secrets keep the stored ones). The integration keeps its
        id, filters, runs and item states, also when renamed."""
        before = integration_or_404(integration_id)
        try:
            service.integrations.save(body, integration_id, verify=verify_credentials)
        except (LearnsyncError, ValueError) as exc:
            raise HTTPException(400, _msg(exc)) from None
        changed = views.changed_fields(before, body)
        if changed:
            audit(request, AuditAction.SETTINGS_CHANGED, integration_id, f"{changed} (API)")
        return views.summary(service, integration_or_404(integration_id))

    @app.get("/api/integrations/{integration_id:id}/runs", tags=["runs"])
    def api_runs(
        integration_id: RowId,
        limit: int = Query(50, ge=1, le=500),
        offset: int = Query(0, ge=0, le=1_000_000_000),
        status: str = "",
    ) -> list[dict[str, Any]]:
        """The integration's runs, newest first: ``limit`` of them from ``offset`` (the whole
        history the store keeps, back to the retention), of one ``status`` if given."""
        integration_or_404(integration_id)
        return runs_view.runs_json(service, integration_id, limit, offset, status)

    @app.get("/api/integrations/{integration_id:id}/progress", tags=["runs"])
    def api_progress(integration_id: RowId) -> dict[str, Any]:
        """The run going now (else the oldest queued one, else the newest), read from its row:
        status, stage, done/total, heartbeat_at; ``{"status": "idle"}`` before any run."""
        integration_or_404(integration_id)
        current = service.runs.current(integration_id)
        live = views.run_json(service, current.id) if current else None
        return live or {"status": "idle"}

    @app.get("/api/runs/{run_id:id}", tags=["runs"])
    def api_run(run_id: RowId) -> dict[str, Any]:
        """One run: queued, running (stage, done/total, heartbeat_at), succeeded, partial,
        failed (``error``: one line) or cancelled."""
        return run_or_404(run_id)

    @app.post("/api/runs/{run_id:id}/cancel", tags=["runs"], status_code=202)
    def api_cancel(request: Request, run_id: RowId) -> JSONResponse:
        """Cancel a run: ``cancelled`` at once when queued; a running one stops at its next
        progress step (``cancel_requested``, shown ``cancelling…``)."""
        run = run_or_404(run_id)
        service.runs.cancel(run_id)
        audit(request, AuditAction.CANCEL, run["integration_id"], f"run {run_id} (API)")
        return JSONResponse(run_or_404(run_id), status_code=202)

    @app.post("/api/integrations/{integration_id:id}/sync/{kind}", tags=["runs"], status_code=202)
    def api_sync(request: Request, integration_id: RowId, kind: str) -> JSONResponse:
        """Submit a content or statistics run: ``queued`` (behind any run of the integration)."""
        integration_or_404(integration_id)
        if kind not in ("content", "stats"):
            raise HTTPException(404, "unknown run kind")
        run_id = service.runs.start(integration_id, kind)
        audit(request, AuditAction.SYNC_NOW, integration_id, f"{kind} (run {run_id}, API)")
        return JSONResponse(run_or_404(run_id), status_code=202)

    @app.get("/api/integrations/{integration_id:id}/filters", tags=["filters"])
    def api_filters(integration_id: RowId) -> dict[str, Any]:
        """The saved filters (``languages``, ``content_types``; empty: every value) and the
        choices, each with its count of catalog items."""
        integration_or_404(integration_id)
        return filters_view.choices_json(filters_view.filters_view(service, integration_id))

    @app.post("/api/integrations/{integration_id:id}/filters/preview", tags=["filters"])
    def api_filters_preview(
        integration_id: RowId,
        body: FiltersBody,
        offset: int = Query(0, ge=0),
        limit: int = Query(filters_view.TITLES, ge=0, le=filters_view.MAX_TITLES),
    ) -> dict[str, Any]:
        """What saving these filters would do (nothing is saved): ``changed``, the courses to
        ``archive`` and ``restore`` (``count``, ``limit`` titles from ``offset``, ``more``),
        ``unchanged``. A filter left out keeps its saved value. Read from the store."""
        integration_or_404(integration_id)
        try:
            chosen = filters_view.chosen(service, integration_id, **body.change())
        except LearnsyncError as exc:
            raise HTTPException(400, form_words(exc.message)) from None
        preview = filters_view.preview(service, integration_id, chosen)
        return filters_view.preview_json(preview, offset=offset, limit=limit)

    @app.put("/api/integrations/{integration_id:id}/filters", tags=["filters"])
    def api_save_filters(
        request: Request, integration_id: RowId, body: FiltersBody
    ) -> JSONResponse:
        """Save the filters: ``202`` with the submitted ``filters`` run (it archives and
        restores at once; follow it at ``/api/runs/{id}``), or ``200`` with ``changed`` false
        and no run when they are the saved ones. A filter left out keeps its saved value."""
        integration_or_404(integration_id)
        try:
            chosen = filters_view.chosen(service, integration_id, **body.change())
        except LearnsyncError as exc:
            raise HTTPException(400, form_words(exc.message)) from None
        before = filters_view.saved_filters(service, integration_id)
        run_id = filters_view.save(service, integration_id, chosen)
        if run_id is None:
            return JSONResponse({"changed": False, "run": None})
        detail = f"{filters_view.what_changed(before, chosen)} (run {run_id})"
        audit(request, AuditAction.FILTERS_CHANGED, integration_id, detail)
        return JSONResponse({"changed": True, "run": run_or_404(run_id)}, status_code=202)

    @app.get("/api/integrations/{integration_id:id}/schedules", tags=["schedules"])
    def api_schedules(integration_id: RowId) -> list[dict[str, Any]]:
        integration_or_404(integration_id)
        return views.schedules_of(service, integration_id)

    @app.put("/api/integrations/{integration_id:id}/schedules/{kind}", tags=["schedules"])
    def api_set_schedule(
        request: Request, integration_id: RowId, kind: str, body: ScheduleBody
    ) -> dict[str, Any]:
        """Change a daily schedule (``time_of_day`` HH:MM in ``timezone``, e.g. Europe/Paris)."""
        integration_or_404(integration_id)
        try:
            views.save_schedule(
                service, integration_id, kind, body.time_of_day, body.timezone, body.enabled
            )
        except LearnsyncError as exc:
            raise HTTPException(422, exc.message) from None
        audit(request, AuditAction.SCHEDULE_CHANGED, integration_id, f"{kind} (API)")
        return next(s for s in views.schedules_of(service, integration_id) if s["kind"] == kind)

    @app.get("/api/integrations/{integration_id:id}/catalog", tags=["catalog"])
    def api_catalog(
        integration_id: RowId,
        q: str = "",
        language: str = "",
        content_type: str = "",
        state: str = "",
        sort: str = "title",
        direction: str = Query("asc", alias="dir"),
        page_number: int = Query(1, alias="page"),
        per_page: int = insights.PAGE_SIZE,
    ) -> dict[str, Any]:
        """Synchronized content matching a search (title and description) and filters, sorted
        (``sort``: title, language, type or state; ``dir``: asc or desc) and paged (``page``,
        ``per_page`` 10 to 200). ``states``: counts per state in the whole catalog;
        ``state_counts``: within the search, language and type."""
        criteria = {"q": q, "language": language, "content_type": content_type, "state": state}
        return dataclasses.asdict(
            _catalog(
                integration_or_404(integration_id),
                criteria,
                page_number,
                sort,
                direction,
                per_page,
            )
        )

    @app.get("/api/integrations/{integration_id:id}/statistics", tags=["statistics"])
    def api_statistics(integration_id: RowId) -> dict[str, Any]:
        """Completions and active learners per day (30 days), top courses, unmatched learners."""
        data = dataclasses.asdict(_statistics(integration_id))
        data["days"] = [d.isoformat() for d in data["days"]]
        return data

    return app


class FiltersBody(BaseModel):
    """Filters to save or preview: each one given replaces the saved one (an empty list: every
    value); one left out keeps its saved value."""

    languages: list[str] | None = None
    content_types: list[str] | None = None

    def change(self) -> dict[str, list[str] | None]:
        return {"languages": self.languages, "content_types": self.content_types}


class ScheduleBody(BaseModel):
    time_of_day: str
    timezone: str = "Europe/Paris"
    enabled: bool = True


def _catalog_query(criteria: dict[str, str], result: insights.CatalogPage) -> dict[str, Any]:
    """The catalog's query string as links keep it: the search, filters, sort and page size
    in effect (defaults left out), without the page."""
    query: dict[str, Any] = {k: v for k, v in criteria.items() if v}
    if result.sort != "title" or result.direction != "asc":
        query.update(sort=result.sort, dir=result.direction)
    if result.page_size != insights.PAGE_SIZE:
        query["per_page"] = result.page_size
    return query


def _msg(exc: Exception) -> str:
    return form_words(exc.message if isinstance(exc, LearnsyncError) else str(exc))
