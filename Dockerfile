# syntax=docker/dockerfile:1
#
# Herald: a static binary on distroless, running as an unprivileged user.
#   docker build -t herald .
#   docker run --rm -p 8080:8080 herald            # memory engine, 0.0.0.0:8080
# Kubernetes probes /healthz and /readyz, so the image carries no HEALTHCHECK.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Dependencies first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" \
      -o /out/herald ./cmd/herald

# distroless/static: CA certificates and tzdata, no shell, no package manager; ":nonroot"
# runs as uid/gid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/herald /usr/local/bin/herald
USER 65532:65532
# The default listen address is loopback; in a container listen on every interface.
ENV HERALD_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/herald"]
CMD ["serve"]
