# Multi-stage build from the same Debian release as the development machines. The build stage
# installs exactly deploy/packages.txt, the list the README and CI use.
FROM debian:12 AS build
COPY deploy/packages.txt deploy/install-deps.sh /src/deploy/
RUN bash /src/deploy/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DASTCD_BUILD_TESTS=OFF -DASTCD_BUILD_BENCH=OFF \
 && cmake --build /build -j"$(nproc)"

# Runtime: only the shared libraries the binaries load, and a non-root user.
FROM debian:12-slim
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends libabsl20220623 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home astcd
COPY --from=build /build/client/astcd /usr/local/bin/astcd
USER astcd
# The gRPC server (astcd-server) becomes the entrypoint when it exists; until then the CLI.
ENTRYPOINT ["/usr/local/bin/astcd"]
CMD ["sample", "--start", "function", "--n", "3", "--sampler", "weighted"]
