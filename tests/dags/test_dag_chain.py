"""dag.test() runs the four DAGs in order on a small demo dataset; a second ingest loads nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from customer_health import assets
from customer_health.warehouse import connect

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"
CHAIN = ["customer_health_ingest", "customer_health_features", "customer_health_score",
         "customer_health_publish"]
CUSTOMERS, MONTHS, SEED = 400, 12, 7


@dataclass
class Run:
    state: str
    tasks: dict[str, str]
    xcoms: dict[tuple[str, str], object]

    @property
    def returned(self) -> dict[str, object]:
        return {task: value for (task, key), value in self.xcoms.items() if key == "return_value"}


@dataclass
class Chain:
    home: Path
    runs: dict[str, Run] = field(default_factory=dict)
    raw_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    # what users read, after the chain and after its tasks ran again (as a retry would)
    state: dict[str, object] = field(default_factory=dict)
    asset_events: dict[str, int] = field(default_factory=dict)
    queued: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo landing files of 400 customers over 12 months and a config small data can train on."""
    from customer_health.demo import generate_demo_data

    root = tmp_path_factory.mktemp("customer_health")
    generate_demo_data(root / "landing", root / "truth", customers=CUSTOMERS, months=MONTHS,
                       seed=SEED)
    config = yaml.safe_load((REPO / "customer_health.yml").read_text(encoding="utf-8"))
    config["model"].update(min_labelled_rows=100, min_positives=10, min_cutoffs=2)
    (root / "customer_health.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return root


def _raw_counts(warehouse: Path) -> dict[str, int]:
    with connect(warehouse, read_only=True) as con:
        return {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0]
                for t in ("ingest_ledger", "customers", "transactions", "interactions")}


def _published(warehouse: Path) -> dict[str, object]:
    with connect(warehouse, read_only=True) as con:
        return {
            "customer_health": con.execute(
                "select * from main.customer_health order by customer_id").df(),
            "history": con.execute("select count(*), count(distinct run_id) "
                                   "from main.customer_health_history").fetchone(),
            "runs": con.execute("select run_id, scored_at from scoring.runs order by 1").fetchall(),
            "scores": con.execute("select count(*) from scoring.churn_scores").fetchone(),
            "alerts": con.execute("select count(*) from main.health_alerts").fetchone(),
        }


def _run(dag) -> Run:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dr = dag.test()
    with create_session() as session:
        tis = dr.get_task_instances(session=session)
        xcoms = session.execute(select(XComModel.task_id, XComModel.key, XComModel.value).where(
            XComModel.dag_id == dag.dag_id, XComModel.run_id == dr.run_id)).all()
    return Run(str(dr.state), {ti.task_id: str(ti.state) for ti in tis},
               {(task_id, key): value for task_id, key, value in xcoms})


@pytest.fixture(scope="module")
def chain(airflow_home: Path, dataset: Path):
    """Ingest, features, score and publish in order, then ingest once more."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    home = dataset / "home"
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    for dag in bag.dags.values():
        for task in dag.tasks:
            task.retries = 0  # a failure shows at once instead of after the retry delays
    result = Chain(home)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CUSTOMER_HEALTH_CONFIG", str(dataset / "customer_health.yml"))
        mp.setenv("CUSTOMER_HEALTH_HOME", str(home))
        mp.setenv("CUSTOMER_HEALTH_LANDING", str(dataset / "landing"))
        # Explicit, so a CUSTOMER_HEALTH_WAREHOUSE from the shell cannot redirect the run.
        mp.setenv("CUSTOMER_HEALTH_WAREHOUSE", str(home / "warehouse.duckdb"))
        for dag_id in CHAIN:
            result.runs[dag_id] = _run(bag.dags[dag_id])
            if dag_id == "customer_health_ingest":
                result.raw_counts["first"] = _raw_counts(home / "warehouse.duckdb")
        result.runs["ingest again"] = _run(bag.dags["customer_health_ingest"])
        result.raw_counts["again"] = _raw_counts(home / "warehouse.duckdb")
        result.state["once"] = _published(home / "warehouse.duckdb")
        for dag_id in CHAIN[1:]:  # every task again, as retries after a crash would run them
            result.runs[f"{dag_id} again"] = _run(bag.dags[dag_id])
        result.state["twice"] = _published(home / "warehouse.duckdb")
    with create_session() as session:
        result.asset_events = dict(session.execute(
            select(AssetModel.name, func.count(AssetEvent.id))
            .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
            .group_by(AssetModel.name)).all())
        result.queued = set(session.scalars(select(AssetDagRunQueue.target_dag_id)))
    return result


def test_every_task_of_the_chain_succeeds(chain: Chain):
    for dag_id in CHAIN:
        run = chain.runs[dag_id]
        tasks = dict(run.tasks)
        assert run.state == "success", (dag_id, run.tasks)
        if dag_id == "customer_health_score":
            # no retrain asked for: a new model sees no drift past the cooldown
            assert tasks.pop("check_drift") == "skipped"
        if dag_id == "customer_health_publish":
            assert tasks.pop("deliver_alerts") == "skipped"  # no alert_delivery configured
        assert tasks and set(tasks.values()) == {"success"}, (dag_id, run.tasks)


def test_running_every_task_again_leaves_the_warehouse_as_one_run_would(chain: Chain):
    import pandas as pd

    once, twice = chain.state["once"], chain.state["twice"]
    for dag_id in CHAIN[1:]:
        assert chain.runs[f"{dag_id} again"].state == "success", dag_id
    pd.testing.assert_frame_equal(once.pop("customer_health"), twice.pop("customer_health"))
    assert once == twice


def test_the_warehouse_holds_one_customer_health_row_per_scored_customer(chain: Chain):
    with connect(chain.home / "warehouse.duckdb", read_only=True) as con:
        rows, customers = con.execute(
            "select count(*), count(distinct customer_id) from main.customer_health").fetchone()
    scored = chain.runs["customer_health_score"].returned["score_customers"]
    published = chain.runs["customer_health_publish"].returned["publish_customer_health"]
    assert rows > 0
    assert rows == customers == scored["customers_scored"] == published["customers"]
    assert sum(published["bands"].values()) == rows
    assert (chain.home / "exports" / "customer_health.parquet").is_file()


def test_tasks_return_small_json_summaries_without_personal_data(chain: Chain):
    for dag_id in CHAIN:
        returned = chain.runs[dag_id].returned
        assert len(returned) == 1 and len(chain.runs[dag_id].xcoms) == 1, dag_id  # one task returns
        text = json.dumps(returned)
        assert len(text) < 4000 and "@example.com" not in text, (dag_id, text)
    ingest = chain.runs["customer_health_ingest"].returned["ingest_landing"]
    assert ingest["rows_loaded"] > 0 and ingest["files"]["loaded"] > 0
    assert chain.runs["customer_health_score"].returned["score_customers"]["model_version"]


def test_each_dag_announces_its_asset_and_queues_the_next(chain: Chain):
    outlets = [assets.RAW_LANDING, assets.FEATURES, assets.SCORES, assets.CUSTOMER_HEALTH]
    # ingest once with new rows (its second run loaded nothing); the rest ran twice
    assert chain.asset_events == {a.name: 1 if a is assets.RAW_LANDING else 2 for a in outlets}
    assert chain.queued >= set(CHAIN[1:])


def test_ingesting_again_loads_nothing_and_starts_nothing(chain: Chain):
    again = chain.runs["ingest again"]
    assert again.state == "success"
    assert again.tasks == {"ingest_landing": "skipped"}
    assert again.returned == {}
    assert chain.raw_counts["again"] == chain.raw_counts["first"]
    assert chain.asset_events[assets.RAW_LANDING.name] == 1

