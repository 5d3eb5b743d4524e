"""docker-compose.yml against what the DAGs need.

No Docker engine runs on the project's machines, so these tests read the file's structure: the
services and their commands, the shared Airflow settings, the mounts the DAGs and the pipeline
read through, the compose configuration of customer-health, the secrets and the image pins.
Values are resolved the way `docker compose` resolves them (``${VAR:?}``, ``${VAR:-default}``,
``$$``) with an environment made from .env.example by deploy/generate_env.py.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from customer_health.assets import WAREHOUSE_POOL
from customer_health.config import FileConfig, parse_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
LOCK = ROOT / "requirements.lock"

# Each Airflow 3 component and the Airflow command it runs (None: the init job, checked apart).
AIRFLOW_SERVICES = {
    "airflow-init": None,
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
LONG_RUNNING = [name for name, command in AIRFLOW_SERVICES.items() if command]
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|_KEY$|TOKEN|REDISCLI_AUTH")
NOT_A_SECRET = re.compile(r"_FILE$|_USERS?$")  # where a secret is kept, who logs in
REQUIRED_VARIABLE = re.compile(r"^\$\{(\w+):\?[^}]*\}$")
VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?+])([^}]*))?\}|\$(\w+)")


# --- resolving the file the way docker compose does -------------------------------------------

def interpolate(value, env: dict[str, str]):
    """``value`` with compose's variable substitution applied (strings inside lists and maps)."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        op, arg = match.group(2), match.group(3)
        given = env.get(name)
        if op == ":-":
            return given or arg
        if op == "-":
            return arg if given is None else given
        if op in (":?", "?"):
            if given is None or (op == ":?" and not given):
                raise KeyError(f"{name} is required: {arg}")
            return given
        if op == ":+":
            return arg if given else ""
        if op == "+":
            return "" if given is None else arg
        return given or ""

    return VARIABLE.sub(substitute, value)


def _load_generate_env():
    spec = importlib.util.spec_from_file_location("generate_env", ROOT / "deploy" / "generate_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_env_file(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            env[name.strip()] = value.strip()
    return env


@pytest.fixture(scope="module")
def raw() -> dict:
    """The file as written (merge keys resolved, variables not)."""
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dot_env() -> dict[str, str]:
    """The .env deploy/generate_env.py writes from .env.example."""
    return read_env_file(_load_generate_env().render(ENV_EXAMPLE.read_text(encoding="utf-8"), 1000))


@pytest.fixture(scope="module")
def compose(raw, dot_env) -> dict:
    """The file as `docker compose` sees it with that .env."""
    return interpolate(raw, dot_env)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def command_words(service: dict) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(word) for word in command]


def mounts(service: dict) -> list[dict]:
    """The service's volumes as {kind, source, target, read_only} (short and long syntax)."""
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            read_only = bool(mode) and "ro" in mode[0].split(",")
        else:
            kind, source, target = volume["type"], volume.get("source"), volume["target"]
            read_only = bool(volume.get("read_only"))
        found.append({"kind": kind, "source": source, "target": target, "read_only": read_only})
    return found


def mount_of(service: dict, container_path: str) -> tuple[dict, PurePosixPath] | None:
    """The mount a container path lies in (the deepest one) and the path inside that mount."""
    path = PurePosixPath(container_path)
    best = None
    for mount in mounts(service):
        target = PurePosixPath(mount["target"])
        if (path == target or target in path.parents) and (
                best is None or len(target.parts) > len(PurePosixPath(best["target"]).parts)):
            best = mount
    if best is None:
        return None
    return best, path.relative_to(best["target"])


def repo_path(service: dict, container_path: str) -> Path:
    """The file of this repository that a container path shows (through a bind mount)."""
    found = mount_of(service, container_path)
    assert found is not None, f"{container_path} is not inside any volume of the service"
    mount, inside = found
    assert mount["kind"] == "bind", f"{container_path} is in the named volume {mount['source']!r}"
    return (COMPOSE_FILE.parent / mount["source"]).resolve() / inside


def env_of(service: dict) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def lock_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


def compose_config_path(services) -> Path:
    return repo_path(services["airflow-scheduler"],
                     env_of(services["airflow-scheduler"])["CUSTOMER_HEALTH_CONFIG"])


# --- services and commands ---------------------------------------------------------------------

def test_every_airflow_component_runs_its_command(services):
    for name, command in AIRFLOW_SERVICES.items():
        assert name in services, f"docker-compose.yml has no {name} service"
        if command:
            assert command_words(services[name]) == command.split(), name
    assert {"postgres", "redis"} <= set(services)


def test_airflow_services_share_one_built_image(services):
    image = services["airflow-scheduler"]["image"]
    using_it = {name for name, service in services.items() if service.get("image") == image}
    assert using_it == set(AIRFLOW_SERVICES), "every Airflow service, and only they, run the project image"
    for name in AIRFLOW_SERVICES:
        assert services[name].get("build"), f"{name} must build the image (docker compose up builds it)"


def init_script_lines(services) -> list[list[str]]:
    """The shell commands of the init job: its command, or the mounted script it runs."""
    words = command_words(services["airflow-init"])
    if words[:2] == ["bash", "-c"]:
        text = words[2]
    else:
        assert words[0] == "bash" and len(words) == 2, f"unexpected init command {words}"
        script = repo_path(services["airflow-init"], words[1])
        assert script.is_file(), f"the init script {script} is not in the repository"
        text = script.read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            try:
                lines.append(shlex.split(line))
            except ValueError:  # part of a here-document or a continued line
                lines.append(line.split())
    return lines


def test_init_job_migrates_the_database_and_creates_the_warehouse_pool(services):
    lines = init_script_lines(services)
    migrate = [i for i, words in enumerate(lines) if words[:3] == ["airflow", "db", "migrate"]]
    pools = [(i, words) for i, words in enumerate(lines) if words[:3] == ["airflow", "pools", "set"]]
    assert migrate, "the init job must run `airflow db migrate`"
    assert pools, "the init job must create the warehouse pool"
    index, words = pools[0]
    assert words[3] == WAREHOUSE_POOL, f"pool {words[3]!r} is not customer_health.assets.WAREHOUSE_POOL"
    assert words[4] == "1", "DuckDB has one writer: the warehouse pool has exactly 1 slot"
    assert migrate[0] < index, "the pool is created after the database is migrated"
    assert str(services["airflow-init"].get("restart", "no")) == "no", "the init job runs once"


def test_init_job_creates_the_landing_folders(services):
    env = env_of(services["airflow-init"])
    text = " ".join(" ".join(words) for words in init_script_lines(services))
    assert "mkdir" in text
    for variable in ("CUSTOMER_HEALTH_HOME", "CUSTOMER_HEALTH_LANDING"):
        assert variable in text and variable in env, f"the init job must create {variable}"


# --- one Airflow installation: executor, metadata database, broker, secrets ---------------------

def test_every_airflow_service_uses_celery_postgres_and_redis(services):
    postgres_env = env_of(services["postgres"])
    redis_words = command_words(services["redis"])
    redis_password = redis_words[redis_words.index("--requirepass") + 1] \
        if "--requirepass" in redis_words else None
    conns = set()
    for name in AIRFLOW_SERVICES:
        env = env_of(services[name])
        assert env.get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor", name
        conns.add(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
            url = urlsplit(env[key])
            assert url.hostname == "postgres" and url.port in (None, 5432), f"{name}: {key}"
            assert url.username == postgres_env["POSTGRES_USER"], f"{name}: {key}"
            assert url.password == postgres_env["POSTGRES_PASSWORD"], f"{name}: {key}"
            assert url.path.lstrip("/") == postgres_env["POSTGRES_DB"], f"{name}: {key}"
        broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
        assert broker.scheme == "redis" and broker.hostname == "redis", name
        assert broker.password == redis_password, f"{name}: the broker URL must carry Redis's password"
    assert len(conns) == 1, "all Airflow services must share one metadata database"


def test_airflow_services_share_the_secrets_and_the_settings(services):
    shared = ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET",
              "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "AIRFLOW__CORE__DAGS_FOLDER",
              "AIRFLOW__CELERY__BROKER_URL", "CUSTOMER_HEALTH_CONFIG", "CUSTOMER_HEALTH_HOME",
              "CUSTOMER_HEALTH_LANDING")
    for key in shared:
        values = {env_of(services[name]).get(key) for name in AIRFLOW_SERVICES}
        assert len(values) == 1 and None not in values and "" not in values, \
            f"{key} must be set, and the same, in every Airflow service"
    url = urlsplit(env_of(services["airflow-worker"])["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert url.hostname == "airflow-apiserver" and url.path.rstrip("/") == "/execution"
    assert url.port == int(env_of(services["airflow-apiserver"]).get("AIRFLOW__API__PORT", 8080))


def test_the_ui_login_is_the_admin_password_of_the_env_file(services, dot_env):
    env = env_of(services["airflow-apiserver"])
    assert env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "false").lower() != "true", \
        "authentication must stay on"
    users = dict(user.split(":")[:2] for user in env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(","))
    init_env = env_of(services["airflow-init"])
    assert users.get(init_env["AIRFLOW_ADMIN_USER"]) == "admin"
    assert init_env["AIRFLOW_ADMIN_PASSWORD"] == dot_env["AIRFLOW_ADMIN_PASSWORD"]
    # The init job writes the passwords file into the volume the API server reads it from.
    passwords_file = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    assert init_env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == passwords_file
    written = mount_of(services["airflow-init"], passwords_file)
    read = mount_of(services["airflow-apiserver"], passwords_file)
    assert written and read and written[0]["source"] == read[0]["source"] and not read[0]["read_only"]
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in " ".join(
        " ".join(words) for words in init_script_lines(services))


# --- depends_on and health ---------------------------------------------------------------------

def test_services_start_in_order(services):
    for name in AIRFLOW_SERVICES:
        depends = services[name].get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        assert depends.get("postgres", {}).get("condition") == "service_healthy", name
        assert depends.get("redis", {}).get("condition") == "service_healthy", name
        if name != "airflow-init":
            assert depends.get("airflow-init", {}).get("condition") == \
                "service_completed_successfully", f"{name} must wait for the init job"
    # Workers and the triggerer run task and trigger code through the API server's execution API.
    for name in ("airflow-worker", "airflow-triggerer"):
        assert services[name]["depends_on"].get("airflow-apiserver", {}).get("condition") == \
            "service_healthy", f"{name} must wait for the API server"
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            if rule.get("condition") == "service_healthy":
                assert services[dependency].get("healthcheck"), \
                    f"{name} waits for {dependency} to be healthy, which has no healthcheck"


def test_healthchecks_probe_the_components(services):
    def probe(name):
        test = services[name].get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"
        return " ".join(test) if isinstance(test, list) else test

    assert "/api/v2/monitor/health" in probe("airflow-apiserver")
    assert ":8974/health" in probe("airflow-scheduler")
    assert env_of(services["airflow-scheduler"]).get("AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK") == "true"
    assert "DagProcessorJob" in probe("airflow-dag-processor")
    assert "TriggererJob" in probe("airflow-triggerer")
    assert "inspect ping" in probe("airflow-worker")
    assert "pg_isready" in probe("postgres") and "ping" in probe("redis")


def test_the_worker_can_be_scaled(services):
    worker = services["airflow-worker"]
    assert "container_name" not in worker, "a fixed container name stops --scale airflow-worker=N"
    assert not worker.get("ports"), "a host port stops --scale airflow-worker=N"


# --- mounts: DAGs, configuration, dataset ------------------------------------------------------

def test_every_dag_file_is_visible_in_the_dags_folder(services):
    dag_files = sorted(path.name for path in (ROOT / "dags").glob("*.py"))
    assert dag_files
    for name in AIRFLOW_SERVICES:
        folder = repo_path(services[name], env_of(services[name])["AIRFLOW__CORE__DAGS_FOLDER"])
        assert folder == ROOT / "dags", f"{name}: the DAGs folder shows {folder}"
        assert sorted(path.name for path in folder.glob("*.py")) == dag_files


def test_customer_health_paths_point_into_mounted_folders(services):
    for name in AIRFLOW_SERVICES:
        service, env = services[name], env_of(services[name])
        config = repo_path(service, env["CUSTOMER_HEALTH_CONFIG"])
        assert config.is_file(), f"{name}: CUSTOMER_HEALTH_CONFIG shows {config}, not in the repo"
        for key in ("CUSTOMER_HEALTH_HOME", "CUSTOMER_HEALTH_LANDING"):
            mount, _ = mount_of(service, env[key])
            assert mount["kind"] == "bind" and not mount["read_only"], \
                f"{name}: {key} must be in a writable mount of the project"
            assert (ROOT / "state") in repo_path(service, env[key]).parents, \
                f"{name}: {key} must be under the git-ignored state/ folder"
        # The project itself is importable from the mount the editable install points at.
        assert repo_path(service, "/opt/customer-health/customer_health/config.py").is_file()


def test_compose_config_switches_on_the_batch_ready_queue_with_its_connection(services):
    config_path = compose_config_path(services)
    options = parse_config(config_path)
    queue = options.orchestration.batch_ready_queue
    assert queue is not None, f"{config_path.name}: orchestration.batch_ready_queue is off"
    broker_db = urlsplit(env_of(services["airflow-worker"])["AIRFLOW__CELERY__BROKER_URL"]).path.strip("/")
    variable = f"AIRFLOW_CONN_{queue.conn_id.upper()}"
    for name in AIRFLOW_SERVICES:
        conn = env_of(services[name]).get(variable)
        assert conn, f"{name}: no {variable} for the batch-ready queue's connection"
        url = urlsplit(conn)
        assert url.scheme == "redis" and url.hostname == "redis", f"{name}: {variable}"
        # RedisHook takes the database from the connection's extra (?db=N), not from the path.
        db = parse_qs(url.query).get("db", ["0"])[0]
        assert db != (broker_db or "0"), f"{name}: the queue must not share the Celery broker's database"


def test_compose_config_paths_agree_with_the_environment(services):
    config_path = compose_config_path(services)
    options = parse_config(config_path)
    service = services["airflow-scheduler"]
    env = env_of(service)
    assert (config_path.parent / options.paths.home).resolve() == \
        repo_path(service, env["CUSTOMER_HEALTH_HOME"]), "paths.home and CUSTOMER_HEALTH_HOME differ"
    assert (config_path.parent / options.paths.landing).resolve() == \
        repo_path(service, env["CUSTOMER_HEALTH_LANDING"]), "paths.landing and CUSTOMER_HEALTH_LANDING differ"


def test_compose_config_differs_from_the_default_only_where_it_must(services):
    compose_options = parse_config(compose_config_path(services)).model_dump(by_alias=True)
    default_options = parse_config(ROOT / "customer_health.yml").model_dump(by_alias=True)
    for section in set(FileConfig.model_fields) - {"paths", "exports", "orchestration"}:
        assert compose_options[section] == default_options[section], \
            f"section {section!r} of the compose config differs from customer_health.yml"
    compose_options["orchestration"].pop("batch_ready_queue")
    default_options["orchestration"].pop("batch_ready_queue")
    assert compose_options["orchestration"] == default_options["orchestration"]


def test_postgres_export_has_a_database_to_write_to(services):
    export = parse_config(compose_config_path(services)).exports.postgres
    if export is None:
        pytest.skip("exports.postgres is off in the compose config")
    postgres = services["postgres"]
    init_dir = repo_path(postgres, "/docker-entrypoint-initdb.d")
    init_sql = " ".join(path.read_text(encoding="utf-8") for path in sorted(init_dir.iterdir())
                        if path.suffix in (".sh", ".sql"))
    for name in AIRFLOW_SERVICES:
        dsn = env_of(services[name]).get(export.dsn_env)
        assert dsn, f"{name}: {export.dsn_env} (exports.postgres.dsn_env) is not set"
        url = urlsplit(dsn)
        assert url.hostname == "postgres", f"{name}: {export.dsn_env} must point at the postgres service"
        database, user = url.path.strip("/"), url.username
        assert re.search(rf"CREATE DATABASE {database}\b", init_sql), \
            f"no init script of postgres creates the database {database!r}"
        assert re.search(rf"CREATE ROLE {user}\b", init_sql), f"no init script creates the role {user!r}"
        password_variable = re.search(r"\$\{?(\w*PASSWORD\w*)", init_sql)
        assert password_variable, "the init script takes the role's password from no variable"
        password_variable = password_variable.group(1)
        assert env_of(postgres).get(password_variable) == url.password, \
            f"the role's password ({password_variable}) and the DSN's differ"


# --- secrets -----------------------------------------------------------------------------------

def _strings(value, where=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}[{index}]")
    elif isinstance(value, str):
        yield where, value


def url_passwords(value: str) -> list[str]:
    """The password part of every URL in ``value`` (a ``${...}`` substitution kept whole)."""
    variables: list[str] = []

    def mask(match: re.Match) -> str:
        variables.append(match.group(0))
        return f"\x00{len(variables) - 1}\x00"

    masked = re.sub(r"\$\{[^}]*\}", mask, value)
    found = []
    for match in re.finditer(r"://[^/@\s]*?:([^/@\s]*)@", masked):
        found.append(re.sub(r"\x00(\d+)\x00", lambda m: variables[int(m.group(1))], match.group(1)))
    return found


def test_url_passwords_are_found_whole():
    assert url_passwords("redis://:${P:?set P in .env (see x)}@redis:6379/0") == ["${P:?set P in .env (see x)}"]
    assert url_passwords("postgresql+psycopg2://airflow:airflow@postgres/airflow") == ["airflow"]
    assert url_passwords("http://airflow-apiserver:8080/execution/") == []


def test_no_secret_is_written_in_the_file(raw):
    for name, service in raw["services"].items():
        for key, value in env_of(service).items():
            if SECRET_NAME.search(key) and not NOT_A_SECRET.search(key):
                assert REQUIRED_VARIABLE.match(value), \
                    f"{name}: {key} must come from .env as ${{VAR:?...}}, not {value!r}"
        words = command_words(service)
        if "--requirepass" in words:
            assert REQUIRED_VARIABLE.match(words[words.index("--requirepass") + 1]), name
    urls = 0
    for where, value in _strings(raw):
        for password in url_passwords(value):
            urls += 1
            assert REQUIRED_VARIABLE.match(password), \
                f"{where}: the password in a URL must come from .env as ${{VAR:?...}}, not {password!r}"
    assert urls, "no URL with a password found: the check above saw nothing"


def test_env_example_lists_every_required_variable_without_a_secret(raw, example_env):
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert {"AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY"} <= required
    missing = required - set(example_env)
    assert not missing, f".env.example lacks {sorted(missing)}"
    for variable in required:
        if SECRET_NAME.search(variable):
            assert example_env[variable] == "", f".env.example must not ship a value for {variable}"
    with pytest.raises(KeyError):
        interpolate(raw, example_env)  # a copied .env.example does not start until filled in


def test_generated_env_file_is_complete_and_valid(dot_env, example_env):
    from cryptography.fernet import Fernet

    assert set(dot_env) == set(example_env)
    assert all(dot_env.values()), "generate_env.py leaves a value empty"
    Fernet(dot_env["AIRFLOW_FERNET_KEY"].encode())  # raises on a malformed key
    secrets = [value for key, value in dot_env.items() if SECRET_NAME.search(key)]
    assert len(set(secrets)) == len(secrets), "every secret is drawn on its own"
    assert all(re.fullmatch(r"[A-Za-z0-9_=-]+", value) for value in secrets), "secrets must be URL-safe"
    assert dot_env["AIRFLOW_UID"] == "1000"


def test_env_file_is_git_ignored_and_kept_out_of_the_image():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    assert subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT).returncode == 0, \
        ".env must be git-ignored"
    assert subprocess.run(["git", "check-ignore", "-q", ".env.example"], cwd=ROOT).returncode == 1, \
        ".env.example must be committed"
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".env", ".venv", "state", ".git"} <= ignored


# --- images ------------------------------------------------------------------------------------

EXACT_TAG = re.compile(r"^[a-z0-9][a-z0-9._/-]*:v?\d+\.\d+(\.\d+)?([-.+][A-Za-z0-9._-]+)?$|@sha256:[0-9a-f]{64}$")


def test_every_image_has_an_exact_version(services):
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name} names no image"
        assert EXACT_TAG.search(image), f"{name}: {image!r} is not pinned to an exact version"
    project_version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    built = services["airflow-scheduler"]["image"]
    assert built.rsplit(":", 1)[1] == project_version, "the built image is tagged with the project version"


def test_dockerfile_builds_on_the_locked_airflow():
    text = DOCKERFILE.read_text(encoding="utf-8")
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(froms) == 1
    match = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(\d+\.\d+)", froms[0])
    assert match, f"FROM {froms[0]} is not an exact apache/airflow:<version>-python<x.y> tag"
    pins = lock_pins(LOCK)
    assert match.group(1) == pins["apache-airflow"], "the image's Airflow differs from requirements.lock"
    locked_python = re.search(r"Python (\d+\.\d+)", LOCK.read_text(encoding="utf-8"))
    if locked_python:
        assert match.group(2) == locked_python.group(1), "the image's Python differs from the lock's"
    assert "-r /tmp/requirements/requirements.lock" in text, "the Dockerfile does not install the lock"
    assert re.search(r"pip install .*-e /opt/customer-health", text), \
        "the project must be installed editable where docker-compose.yml mounts it"


def test_the_lock_holds_the_providers_of_the_distributed_deployment():
    locked = lock_pins(LOCK)
    # CeleryExecutor; the Redis "batch ready" queue (MessageQueueTrigger with redis+pubsub).
    for provider in ("apache-airflow-providers-celery", "apache-airflow-providers-redis",
                     "apache-airflow-providers-common-messaging", "celery", "redis"):
        assert provider in locked, f"the image lacks {provider}"


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client")
def test_docker_compose_accepts_the_file(tmp_path, dot_env):
    """Where the compose plugin is installed, its own parser has the last word (no engine needed)."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("docker compose is not installed")
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in dot_env.items()))
    done = subprocess.run(["docker", "compose", "--env-file", str(env_file), "-f", str(COMPOSE_FILE),
                           "config", "--quiet"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
