# Ownership Agent container: the package installed the way the README's Quick start installs it
# (Debian 12, python3-venv, pip install .), in a build stage; the runtime stage runs as a non-root
# user and works with a read-only root filesystem (state goes to /var/lib/ownership).
# Not built in this repository's CI: no Docker engine runs there (see README).

# Debian's packages are not pinned (hadolint DL3008): a stable release replaces a package version with its
# security updates and drops the old one from the mirror, so a pinned version stops building; the base
# image's tag is what fixes the release.
FROM debian:12-slim AS build
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY agent ./agent
COPY collectors ./collectors
COPY rules ./rules
COPY dashboards ./dashboards
RUN python3 -m venv /opt/ownership && /opt/ownership/bin/pip install --no-cache-dir .

FROM debian:12-slim
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 ownership \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/ownership --no-create-home --shell /usr/sbin/nologin ownership \
 && mkdir -p /var/lib/ownership /etc/ownership && chown 10001:10001 /var/lib/ownership
COPY --from=build /opt/ownership /opt/ownership
ENV PATH=/opt/ownership/bin:$PATH \
    XDG_STATE_HOME=/var/lib/ownership \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /var/lib/ownership
EXPOSE 8080
ENTRYPOINT ["ownership"]
CMD ["serve", "--config", "/etc/ownership/ownership.yaml", "--host", "0.0.0.0", "--port", "8080"]
