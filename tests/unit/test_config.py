import pytest

from runway.config import ConfigError, load_settings

pytestmark = pytest.mark.unit


def test_default_settings_load_and_layer():
    s = load_settings()
    assert s.use_case == "retail_demand" and s.environment.name == "local"
    assert s.workspace.is_absolute()


def test_error_names_key_and_file(tmp_path):
    env = tmp_path / "bad.yaml"
    env.write_text("name: bad\noverrides:\n  promotion: {min_improvement_vs_production: -0.5}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(env=str(env))
    msg = str(err.value)
    assert str(env) in msg and "promotion.min_improvement_vs_production" in msg and "-0.5" in msg


def test_unknown_key_is_refused(tmp_path):
    env = tmp_path / "typo.yaml"
    env.write_text("name: t\nworkspce: /tmp/x\n")
    with pytest.raises(ConfigError, match=r"environment\.workspce"):
        load_settings(env=str(env))


def test_missing_env_var_is_named(monkeypatch):
    monkeypatch.delenv("RUNWAY_FEAST_REGISTRY_URL", raising=False)
    with pytest.raises(ConfigError, match="RUNWAY_FEAST_REGISTRY_URL"):
        load_settings(env="staging")


def test_env_var_interpolation(monkeypatch):
    for var, val in {
        "RUNWAY_FEAST_REGISTRY_URL": "postgresql://x/y",
        "RUNWAY_REDIS_CONNECTION": "127.0.0.1:6379",
        "RUNWAY_LOCK_URL": "mysql+pymysql://root@h/db",
        "RUNWAY_DECISION_LOG_URL": "postgresql://x/gov",
        "RUNWAY_PREDICTIONS_URL": "postgresql://x/predictions",
    }.items():
        monkeypatch.setenv(var, val)
    monkeypatch.setenv("RUNWAY_KFP_HOST", "https://kfp.example")
    s = load_settings(env="staging")
    from runway.config import reveal

    assert s.environment.stack.kubeflow_host == "https://kfp.example", "plain keys are interpolated at load"
    assert reveal(s.environment.feast.registry) == "postgresql://x/y" and s.environment.lock.backend == "sql"


def test_invalid_yaml_is_named(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(env=str(bad))


def test_alert_policy_n_of_m_validated():
    with pytest.raises(ConfigError, match="breaches_required"):
        load_settings(overrides={"monitoring": {"alerts": {"breaches_required": 4, "window_count": 3}}})


def test_settings_never_hold_a_secret_value(monkeypatch):
    """Settings travel as pipeline parameters (ZenML DB, compiled specs):
    connection strings keep their ${VAR} reference and are revealed at use."""
    from runway.config import reveal

    monkeypatch.setenv("RUNWAY_FEAST_REGISTRY_URL", "postgresql://runway:s3cr3t@db/feast")
    monkeypatch.setenv("RUNWAY_REDIS_CONNECTION", "redis://:s3cr3t@cache:6379")
    monkeypatch.setenv("RUNWAY_LOCK_URL", "mysql+pymysql://runway:s3cr3t@db/lock")
    monkeypatch.setenv("RUNWAY_DECISION_LOG_URL", "postgresql+psycopg2://runway:s3cr3t@db/gov")
    monkeypatch.setenv("RUNWAY_ZENML_STORE_URL", "mysql://zenml:s3cr3t@db/zenml")
    monkeypatch.setenv("RUNWAY_PREDICTIONS_URL", "")
    s = load_settings(env="staging")
    assert "s3cr3t" not in s.model_dump_json()
    assert s.environment.decision_log.url == "{env:RUNWAY_DECISION_LOG_URL}" and s.environment.zenml.store_url == "{env:RUNWAY_ZENML_STORE_URL:-}"
    assert s.environment.feast.registry == "{env:RUNWAY_FEAST_REGISTRY_URL}", "a form ZenML does not expand (it substitutes ${VAR} itself)"
    assert reveal(s.environment.lock.url) == "mysql+pymysql://runway:s3cr3t@db/lock"
    assert s.environment.predictions_sink is None, "an empty optional reference means unset"


def test_secret_reference_still_checked_at_load(monkeypatch):
    monkeypatch.setenv("RUNWAY_FEAST_REGISTRY_URL", "postgresql://x/y")
    monkeypatch.setenv("RUNWAY_REDIS_CONNECTION", "127.0.0.1:6379")
    monkeypatch.delenv("RUNWAY_LOCK_URL", raising=False)
    with pytest.raises(ConfigError, match=r"staging.yaml: key 'environment.lock.url' needs environment variable RUNWAY_LOCK_URL"):
        load_settings(env="staging")


def test_sql_lock_without_url_is_refused_at_load(tmp_path):
    env = tmp_path / "e.yaml"
    env.write_text("name: e\nlock: {backend: sql}\n")
    with pytest.raises(ConfigError, match=r"e.yaml: key 'environment.lock': .*needs lock.url"):
        load_settings(env=str(env))


def test_error_unwrapping_keeps_the_message_that_replaced_another():
    from runway.errors import describe

    try:
        try:
            int("x")
        except ValueError:
            raise ValueError("--week: not a date (YYYY-MM-DD): '2031-13-01'") from None
    except ValueError as exc:
        assert describe(exc) == "ValueError: --week: not a date (YYYY-MM-DD): '2031-13-01'"


def _env_file(tmp_path, body: str):
    env = tmp_path / "hostile.yaml"
    env.write_text(f"name: hostile\nworkspace: {tmp_path / 'ws'}\n{body}")
    return str(env)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("feast: {registry: ../../../escape.db}\n", "environment.feast.registry"),
        ("source: {kind: parquet, location: ../../elsewhere}\n", "environment.source.location"),
        ("zenml: {config_dir: ../zenml}\n", "environment.zenml.config_dir"),
    ],
)
def test_a_relative_path_may_not_leave_the_workspace(tmp_path, body, key):
    with pytest.raises(ConfigError, match=rf"hostile.yaml: key '{key}': relative path .* outside the workspace"):
        load_settings(env=_env_file(tmp_path, body))


def test_an_absolute_path_elsewhere_needs_allow_external_paths(tmp_path):
    with pytest.raises(ConfigError, match=r"hostile.yaml: key 'environment.feast.registry': .*allow_external_paths"):
        load_settings(env=_env_file(tmp_path, f"feast: {{registry: {tmp_path / 'shared' / 'r.db'}}}\n"))
    s = load_settings(env=_env_file(tmp_path, f"allow_external_paths: true\nfeast: {{registry: {tmp_path / 'shared' / 'r.db'}}}\n"))
    assert s.environment.allow_external_paths
    ok = load_settings(env=_env_file(tmp_path, "feast: {registry: feast/sub/../registry.db}\n"))
    assert ok.environment.feast.registry == "feast/sub/../registry.db", "a '..' that stays inside is fine"


@pytest.mark.parametrize("where", ["/", "~", "."])
def test_the_workspace_may_not_be_root_home_or_the_project(where):
    from runway.config import PROJECT_ROOT

    ws = str(PROJECT_ROOT) if where == "." else where
    with pytest.raises(ConfigError, match="key 'environment.workspace'"):
        load_settings(overrides={"environment": {"workspace": ws}})
