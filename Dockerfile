# The image of every Airflow service of docker-compose.yml: the official Airflow image, with the
# locked dependencies of the pipeline (the Celery and Redis providers of the distributed
# deployment included), and this project. Build: docker compose build (tag customer-health-airflow:<version>).
# The tag pins Airflow and Python to those of requirements.lock (a test checks it).
FROM apache/airflow:3.3.2-python3.11

USER root
# The project lives here (docker-compose.yml mounts the working copy over it); the named volume
# of the login passwords file starts from /opt/airflow/auth. Group 0 may write both, so the
# services can run as any AIRFLOW_UID in group 0.
RUN mkdir -p /opt/customer-health /opt/airflow/auth \
 && chown airflow:0 /opt/customer-health /opt/airflow/auth \
 && chmod 2775 /opt/customer-health /opt/airflow/auth
USER airflow

# Dependencies first, in their own layer: rebuilt only when a lock file changes. requirements.lock
# pins apache-airflow itself, so nothing here can move the image's Airflow.
COPY --chown=airflow:0 requirements.lock /tmp/requirements/requirements.lock
RUN pip install --no-cache-dir -r /tmp/requirements/requirements.lock

# The project, installed in editable mode: the pipeline finds dbt_project/ and expectations/ next
# to its package, so it must be imported from /opt/customer-health, not from site-packages.
COPY --chown=airflow:0 . /opt/customer-health
RUN pip install --no-cache-dir --no-deps -e /opt/customer-health
