# The pipeline on the official Airflow 3.3 image: the locked dependencies plus this project.
FROM apache/airflow:3.3.2-python3.11

USER root
COPY --chown=airflow:root . /opt/customer-health
USER airflow
RUN pip install --no-cache-dir -r /opt/customer-health/requirements.lock \
 && pip install --no-cache-dir --no-deps -e /opt/customer-health
