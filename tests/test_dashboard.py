"""The model dashboard (plugins/model_dashboard.py) as Airflow's API server serves it: behind Airflow's
own authentication, refusing model names that are not configured, serving no secret, and, driven in
Debian's Chromium by Playwright, showing the numbers the warehouse holds with one chart point per fact.

The state: both demo models (daily predicts in UTC, lead 0, small models), each with v1 trained as
of 2013-03-03 and v2 forced as of 03-10, predictions cut off at 03-04 to 03-11 except 03-08 (a gap),
and monitor runs at 03-11 and 03-12; the artifacts in an S3 bucket (moto). Built once per
session, restored per module.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from pipeline.config import PROJECT_ROOT, load_config

MODELS = ("flight_delay", "origin_hourly_delay")
UTC = dt.UTC
DAY = dt.timedelta(days=1)
MARCH = [dt.datetime(2013, 3, d, tzinfo=UTC) for d in range(1, 14)]  # MARCH[d - 1] is 03-d
CUTOFFS = [MARCH[d - 1] for d in (4, 5, 6, 7, 9, 10, 11)]  # 03-08 left out: a gap
SECRET_PASSWORD = "pw-0f7c2b1e9d"  # noqa: S105 - a canary: must never be served
SECRET_KEY = "key-5a1d33c8e2"  # noqa: S105


def daily(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both models predict ``@daily`` in UTC with lead 0 (each run scores the day after its cutoff)
    and train small models (the classifier on 7 days, with a 3-day holdout)."""
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__TRAINING__WINDOW_DAYS", "7")
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__TRAINING__HOLDOUT_DAYS", "3")
    for model in MODELS:
        prefix = f"PIPELINE_{model.upper()}__"
        monkeypatch.setenv(prefix + "SCHEDULE__PREDICT", "@daily")
        monkeypatch.setenv(prefix + "SCHEDULE__TIMEZONE", "UTC")
        monkeypatch.setenv(prefix + "PREDICTIONS__LEAD", "PT0S")
        monkeypatch.setenv(prefix + "MODEL__PARAMS", '{"max_iter": 20}')


def build(url: str, root: str, endpoint: str) -> None:
    """The module docstring's state, made by the stages."""
    from pipeline.stages import RunContext, Runtime, monitor, predict, retrain

    for model in MODELS:
        cfg = load_config(model, warehouse={"url": url}, artifacts={"root": root, "endpoint_url": endpoint})

        def run(kind: str, end: dt.datetime, stage, cfg=cfg, **kwargs):
            ctx = RunContext(cfg.dag_id(kind), f"{kind}-{end:%m%d}", end - DAY, end)
            return stage(Runtime(cfg, ctx), **kwargs)

        run("retrain", MARCH[2], retrain.run)
        for cutoff in CUTOFFS:
            if cutoff == MARCH[9]:
                run("retrain", cutoff, retrain.run, force=True)
            run("predict", cutoff, predict.run)
        for end in MARCH[10:12]:
            run("monitor", end, monitor.measure)


@pytest.fixture(scope="module")
def state(pg_port, seeded_template, s3_endpoint):
    """(warehouse URL with a password, artifact root) of the state, in a database and a bucket of this
    module's own; the environment the API server reads them from (with an S3 secret key) is set."""
    import boto3
    from conftest import _clone, _drop_database, _new_bucket

    from pipeline.data import local_pg

    name = _clone(pg_port, seeded_template, "dashboard")
    root = _new_bucket(boto3.client("s3", endpoint_url=s3_endpoint))
    # The test cluster trusts local connections: the password is a canary, never checked.
    url = local_pg.url(pg_port, name).replace("postgres@", f"postgres:{SECRET_PASSWORD}@")
    with pytest.MonkeyPatch.context() as mp:
        daily(mp)
        mp.setenv("PIPELINE_WAREHOUSE__URL", url)
        mp.setenv("PIPELINE_ARTIFACTS__ROOT", root)
        mp.setenv("PIPELINE_ARTIFACTS__ENDPOINT_URL", s3_endpoint)
        mp.setenv("PIPELINE_ARTIFACTS__ACCESS_KEY_ID", "testing")
        mp.setenv("PIPELINE_ARTIFACTS__SECRET_ACCESS_KEY", SECRET_KEY)
        build(url, root, s3_endpoint)
        yield url, root
    _drop_database(pg_port, name)


@pytest.fixture(scope="module")
def server(state, airflow_db):
    """Airflow's API app (core: the REST API, the UI and the plugins) served by uvicorn on a free port
    in a thread; yields its base URL."""
    import socket

    import uvicorn
    from airflow.api_fastapi.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(apps="core")
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    while not uv.started:
        thread.join(0.05)
        assert thread.is_alive(), "the API server did not start"
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(10)


def token(role: str = "admin") -> str:
    """A JWT of Airflow's auth manager for a user of ``role``, as ``POST /auth/token`` issues."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=role, role=role))


@pytest.fixture(scope="module")
def client(server):
    """An HTTP client of the API server, authenticated as an admin."""
    import httpx

    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {token()}"}) as c:
        yield c


PATHS = [
    "/models/",
    "/models/api/models",
    "/models/flight_delay",
    "/models/api/models/flight_delay",
    "/models/origin_hourly_delay",
    "/models/flight_delay/versions/1/card",
    "/models/flight_delay/versions/2/lineage",
    "/models/dag/predict__flight_delay",
    "/models/task/retrain__flight_delay/retrain-0310/promote",
]


def test_every_endpoint_refuses_a_request_without_a_valid_token(server):
    import httpx

    for path in PATHS:
        assert httpx.get(server + path).status_code == 401, path  # Airflow's "Not authenticated"
        bad = httpx.get(server + path, headers={"Authorization": "Bearer not-a-jwt"})
        assert bad.status_code == 403, path  # Airflow's "Invalid JWT token"
        assert httpx.get(server + path, cookies={"_token": "not-a-jwt"}).status_code == 403, path


def test_the_plugin_is_registered_with_its_views(client):
    plugins = client.get("/api/v2/plugins").json()["plugins"]
    plugin = next(p for p in plugins if p["name"] == "model_dashboard")
    assert plugin["fastapi_apps"][0]["url_prefix"] == "/models"
    views = {v["destination"]: v["href"] for v in plugin["external_views"]}
    assert views == {
        "nav": "/models/",
        "dag": "/models/dag/{DAG_ID}",
        "task_instance": "/models/task/{DAG_ID}/{RUN_ID}/{TASK_ID}",
    }


def test_tabs_and_task_links_lead_to_the_model_and_its_cards(client):
    assert client.get("/models/dag/monitor__origin_hourly_delay").headers["location"] == "/models/origin_hourly_delay"
    for path in ("/models/dag/cleanup", "/models/task/cleanup/scheduled__2013-03-04/cleanup"):
        page = client.get(path)
        assert page.status_code == 404 and "cleanup is not a model's DAG" in page.text
    # A retrain run's task opens the card of the version it trained; another run's, the model page.
    card = client.get("/models/task/retrain__flight_delay/retrain-0310/promote")
    assert card.headers["location"] == "/models/flight_delay/versions/2/card"
    page = client.get("/models/task/predict__flight_delay/predict-0305/publish")
    assert page.headers["location"] == "/models/flight_delay"


def test_model_cards_come_from_the_s3_store(client, state):
    import boto3

    bucket, _, prefix = state[1][5:].partition("/")
    for model in MODELS:
        for version in (1, 2):
            stored = (
                boto3.client("s3", endpoint_url=load_config(model).artifacts.endpoint_url)
                .get_object(Bucket=bucket, Key=f"{prefix}/{model}/{version}/model_card.html")["Body"]
                .read()
            )
            served = client.get(f"/models/{model}/versions/{version}/card")
            assert served.status_code == 200 and served.content == stored
    assert client.get("/models/flight_delay/versions/3/card").status_code == 404


def test_a_model_name_or_version_outside_the_configured_ones_is_refused(client, state):
    """No URL reaches an object of the store that is not a configured model's card: a name must be
    a configured model's, a version an integer."""
    import boto3

    bucket, _, prefix = state[1][5:].partition("/")
    s3 = boto3.client("s3", endpoint_url=load_config("flight_delay").artifacts.endpoint_url)
    s3.put_object(Bucket=bucket, Key=f"{prefix}/private/1/model_card.html", Body=b"private-canary")
    s3.put_object(Bucket=bucket, Key="private/1/model_card.html", Body=b"private-canary")
    attempts = [
        "/models/private/versions/1/card",
        "/models/..%2Fprivate/versions/1/card",
        "/models/flight_delay%2F..%2F..%2Fprivate/versions/1/card",
        "/models/%2E%2E/versions/1/card",
        "/models/flight_delay/versions/..%2F..%2Fprivate%2F1/card",
        "/models/flight_delay/versions/1%2F..%2F..%2F..%2Fprivate%2F1/card",
        "/models/api/models/..%2Fprivate",
        "/models/private/versions/1/lineage",
    ]
    for path in attempts:
        response = client.get(path)
        assert response.status_code in (404, 422), (path, response.status_code)
        assert b"private-canary" not in response.content, path


def test_nothing_served_contains_a_secret(client):
    for path in PATHS + [f"/models/{m}/versions/{v}/lineage" for m in MODELS for v in (1, 2)]:
        response = client.get(path, follow_redirects=True)
        assert response.status_code == 200, path
        for secret in (SECRET_PASSWORD, SECRET_KEY):
            assert secret not in response.text, (path, secret)


# Browser tests: Playwright drives the OS's Chromium (make install); each page is screenshotted.
SCREENSHOTS = PROJECT_ROOT / ".local" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    """A browser tab logged in to Airflow as an admin (the UI's ``_token`` cookie)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "_token", "value": token(), "url": server}])
    tab = context.new_page()
    yield tab
    context.close()


def shoot(tab, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"dashboard-{name}.png"), full_page=True)


def sql(url: str, query: str, *params) -> list[tuple]:
    import psycopg2

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def test_the_models_page_shows_each_champion_and_verdict_as_stored(page, server, state):
    page.goto(f"{server}/models/")
    assert page.title() == "Models: model dashboard"
    for model in MODELS:
        row = page.locator(f"tr[data-model={model}]")
        [(champion,)] = sql(
            state[0], "SELECT version FROM ml.model_versions WHERE model_name = %s AND status = 'champion'", model
        )
        assert row.locator(".champion").inner_text() == f"v{champion}" == "v2"
        [(since, reason)] = sql(
            state[0],
            "SELECT valid_from, reason FROM ml.champion_history WHERE model_name = %s ORDER BY valid_from DESC LIMIT 1",
            model,
        )
        assert row.locator(".since").inner_text() == f"{since.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({reason})"
        [(end, rows, minimum, age)] = sql(
            state[0],
            "SELECT data_interval_end, evidence #> '{trigger,performance,labelled_rows}', "
            "evidence #> '{trigger,performance,min_labelled_rows}', evidence #> '{trigger,age,age_days}' "
            "FROM ml.retrain_triggers WHERE model_name = %s ORDER BY data_interval_end DESC LIMIT 1",
            model,
        )
        verdict = row.locator(".monitor").inner_text()
        assert verdict.startswith(f"{end.astimezone(UTC):%Y-%m-%d %H:%M} UTC: ")
        assert f"champion age {age:.1f} of 28 days" in verdict
        assert f"{rows} labelled rows" in verdict or f"on {rows} labelled rows" in verdict
    shoot(page, "models")
    # The same page inside the Airflow UI, under its "Models" navigation entry.
    page.goto(f"{server}/plugin/models")
    frame = page.frame_locator("iframe")
    assert frame.locator("tr[data-model=flight_delay] .champion").inner_text() == "v2"
    shoot(page, "airflow-nav")


@pytest.mark.parametrize("model", MODELS)
def test_a_model_page_shows_the_warehouse_numbers_with_a_point_per_fact(page, server, state, model):
    url, cfg = state[0], load_config(model)
    metric = cfg.promotion_metric
    page.goto(f"{server}/models/{model}")
    assert page.locator("h1").inner_text().startswith(model)

    # Holdout metrics per version, as the registry holds them.
    for version, metrics in sql(url, "SELECT version, metrics FROM ml.model_versions WHERE model_name = %s", model):
        cells = page.locator(f"#versions tr[data-version='{version}'] td[data-metric]")
        shown = {cells.nth(i).get_attribute("data-metric"): cells.nth(i).inner_text() for i in range(cells.count())}
        assert shown and shown == {m: f"{metrics[m]:.4f}" for m in shown}

    # Performance per day: the realized value of the day's champion (latest monitor run), its estimate.
    table = page.locator("#performance tr")
    days = [table.nth(i).locator("td").all_inner_texts() for i in range(1, table.count())]
    assert len(days) >= 3
    for day, realized, realized_version, estimated, estimated_version in days:
        stored = sql(
            url,
            "SELECT value FROM ml.model_performance WHERE model_name = %s AND day = %s AND model_version = %s "
            "AND metric = %s ORDER BY data_interval_end DESC LIMIT 1",
            model,
            day,
            int(realized_version[1:] or 0),
            metric,
        )
        assert realized == (f"{stored[0][0]:.4f}" if stored and stored[0][0] is not None else "n/a"), day
        value = (
            sql(
                url,
                f"SELECT model_version, estimated_{metric} FROM ml.performance_estimates WHERE model_name = %s "
                "AND day = %s ORDER BY as_of DESC LIMIT 1",
                model,
                day,
            )
            if cfg.task == "binary_classification"
            else []
        )
        assert (estimated_version, estimated) == (
            (f"v{value[0][0]}", f"{value[0][1]:.4f}") if value else ("", "n/a")
        ), day
    chart = page.locator("#chart-performance")
    assert chart.locator("#realized use").count() == sum(d[1] != "n/a" for d in days) > 0
    assert chart.locator("#estimated use").count() == sum(d[3] != "n/a" for d in days)
    [(changes,)] = sql(url, "SELECT count(*) FROM ml.champion_history WHERE model_name = %s", model)
    assert chart.locator("[id^=retrain-]").count() == changes == 2

    # Drift: one heat-map cell per PSI measured.
    [(cells,)] = sql(
        url,
        "SELECT count(*) FROM ml.feature_drift WHERE model_name = %s AND metric = 'psi' AND value IS NOT NULL",
        model,
    )
    assert page.locator("#chart-drift #drift path").count() == cells > 0

    # The promotion gate's intervals of the forced v2 against v1.
    gates = page.locator("#gates").inner_text()
    [(evidence,)] = sql(
        url, "SELECT decision_evidence FROM ml.model_versions WHERE model_name = %s AND version = 2", model
    )
    for comparison in evidence["comparisons"]:
        assert f"[{comparison['ci_low']:+.4f}, {comparison['ci_high']:+.4f}]" in gates

    # Predictions per interval: one bar each, the counts of the table, and the left-out day as a gap.
    stored = sql(
        url,
        f"SELECT data_interval_start, count(*) FROM {cfg.predictions.table} WHERE model_name = %s AND is_champion "
        "GROUP BY 1 ORDER BY 1",
        model,
    )
    assert len(stored) == len(CUTOFFS)
    assert page.locator("#chart-counts [id^=interval-]").count() == len(stored)
    counts = page.locator("#counts td.num").all_inner_texts()
    assert counts == [str(rows) for _, rows in stored]
    assert page.locator("#gaps").inner_text() == "Gaps: [2013-03-07 00:00 UTC, 2013-03-08 00:00 UTC)"
    shoot(page, model)

    # Each version's card, from the S3 store.
    page.locator("#versions tr[data-version='2'] a.card").click()
    assert page.title() == f"{model} v2 model card"
    shoot(page, f"{model}-card")
