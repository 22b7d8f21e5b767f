# The Lanyard image: `lanyard controller` by default; the same image runs `lanyard sidecar`.
# Build: docker build -t lanyard .

# Build stage: all dependencies, compile TypeScript to dist/ and bundle the sidecar into
# dist/sidecar.cjs (what `lanyard sidecar` runs in this image).
FROM node:22.12-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY lib lib
COPY proto proto
COPY kube kube
COPY ca ca
COPY controller controller
COPY sidecar sidecar
COPY cli cli
COPY dev dev
COPY examples examples
COPY scripts scripts
RUN npm run build

# Production dependencies only, installed apart from the build's dev dependencies.
FROM node:22.12-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

# Final stage: compiled code, production dependencies, no sources, no compiler, non-root.
FROM node:22.12-bookworm-slim
ENV NODE_ENV=production
# `lanyard init-iptables` (the injected lanyard-init container) runs iptables-restore and
# ip6tables-restore from this image.
RUN apt-get update && apt-get install -y --no-install-recommends iptables \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
COPY bin bin
COPY crds crds
USER 65532:65532
ENTRYPOINT ["node", "bin/lanyard.js"]
CMD ["controller"]
