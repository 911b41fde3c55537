# Multi-stage build from the same Debian release as the development machines.
#   docker build -t astcd .
#   docker run --rm -p 50051:50051 -p 9464:9464 astcd [--max-sessions=1000 ...]
# Arguments after the image name replace CMD and go to astcd-server as flags
# (docs/operations.md, "The container").

# Build stage: the build role of deploy/packages.txt, the list the README and CI use (no test
# packages: no torch, no Prometheus).
FROM debian:12 AS build
COPY deploy/packages.txt deploy/install-deps.sh /src/deploy/
RUN bash /src/deploy/install-deps.sh build && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DASTCD_BUILD_TESTS=OFF -DASTCD_BUILD_BENCH=OFF \
 && cmake --build /build -j"$(nproc)" --target astcd-server astcd

# Runtime stage: only the shared libraries the binaries load (the runtime role of
# deploy/packages.txt), and a non-root user.
FROM debian:12-slim
COPY deploy/packages.txt deploy/install-deps.sh /tmp/deploy/
RUN bash /tmp/deploy/install-deps.sh runtime \
 && rm -rf /var/lib/apt/lists/* /tmp/deploy \
 && groupadd --system --gid 10001 astcd \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin astcd
COPY --from=build /build/server/astcd-server /usr/local/bin/astcd-server
COPY --from=build /build/cli/astcd /usr/local/bin/astcd
# Numeric, so Kubernetes' runAsNonRoot can check it.
USER 10001:10001
# 50051: gRPC (astcd.v1.Decoder, grpc.health.v1.Health, reflection). 9464: Prometheus /metrics.
EXPOSE 50051 9464
ENTRYPOINT ["/usr/local/bin/astcd-server"]
CMD ["--listen=0.0.0.0:50051", "--metrics-listen=0.0.0.0:9464"]
