# One image for every orderpath service; compose runs it as `run feed`, `run risk`, … and
# healthchecks with `ctl ping NAME`. Build: docker build -t orderpath . (docker-compose.yml does).
# PYTHON_IMAGE is the base: any Debian-like image with Python 3.11, python3 -m venv and pip. Without
# Docker Hub, deploy/base-image.sh makes one (docs/operations.md, "Compose without Docker Hub").
ARG PYTHON_IMAGE=python:3.11-slim

# Build stage: the locked dependencies, then the package from pyproject.toml as a wheel, into a venv
# that is copied whole.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# python3: Debian's own python3 package has no `python` (the official image has both).
RUN python3 -m venv /opt/orderpath
WORKDIR /src
# The dependencies in a layer of their own, exact versions and hashes from the committed lock: a code
# change reuses it instead of downloading every dependency again.
COPY requirements/runtime.lock requirements/
RUN /opt/orderpath/bin/pip install --require-hashes --only-binary :all: -r requirements/runtime.lock
# Only what the wheel is made of, so a change to tests or docs does not rebuild it.
COPY pyproject.toml README.md ./
COPY contracts/ contracts/
COPY services/ services/
COPY bench/ bench/
RUN /opt/orderpath/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
 && /opt/orderpath/bin/pip install --no-deps /wheels/orderpath-*.whl

# Runtime stage: the venv, the shipped config and sample data, a non-root user.
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 orderpath \
 && useradd --system --uid 10001 --gid orderpath --home-dir /app --no-create-home --shell /usr/sbin/nologin orderpath
COPY --from=build /opt/orderpath /opt/orderpath
WORKDIR /app
COPY config/ config/
COPY data/ data/
# var/ holds the adapter's journal, control's state and audit (var_dir in config/stack.yaml is ../var),
# keys/ the CURVE keys; named volumes mounted there start with this ownership.
RUN mkdir -p /app/var /app/keys && chown orderpath:orderpath /app/var /app/keys
ENV PATH=/opt/orderpath/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ORDERPATH_CONFIG=/app/config/stack.yaml \
    SJ_LOG_PATH=/dev/null
USER 10001:10001
ENTRYPOINT ["orderpath"]
CMD ["--help"]
