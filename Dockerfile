# m365apk in a container: the provider's scheduled APK for all schools.
# No secrets in the image: the tenants file and certificate come from mounted volumes, client
# secrets from the environment. Output and history go to the /data volume.
FROM python:3.11-slim-bookworm

# bestuursrapport.pdf and bijlage.pdf: Debian's headless Chromium prints the two HTML documents
# (the browser the school opens them in)
# with the fonts the report names (Liberation for Arial, DejaVu for the rest). No recommends.
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-liberation fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# A fixed non-root user; /data must be writable by uid 10001 (docker volume or chown).
RUN useradd --create-home --uid 10001 --user-group apk \
    && mkdir -p /data /config && chown apk:apk /data

WORKDIR /opt/m365apk
COPY pyproject.toml README.md ./
COPY m365apk ./m365apk
RUN pip install --no-cache-dir . && rm -rf /root/.cache

USER 10001
VOLUME ["/data"]
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

ENTRYPOINT ["m365apk"]
# One round over all schools, then exit (Kubernetes CronJob, cron on the host, CI).
# For a plain Docker host that should keep running: override with
#   schedule /config/tenants.yaml --cron "0 6 1 9 *" --output /data --history /data/history.sqlite --pdf
CMD ["scan-all", "/config/tenants.yaml", "--output", "/data", "--history", "/data/history.sqlite", "--log-format", "json", "--quiet", "--pdf"]
