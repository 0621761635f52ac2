# webrtc-server image (README "Container"): build the TypeScript in one stage,
# run the compiled daemon with production dependencies only, as a non-root user.
#   docker build -t webrtc-server .
#   docker run --rm --network host webrtc-server            # dev mode on 127.0.0.1:8080
#   docker run --rm webrtc-server --version
# Configuration: WEBRTC_SERVER_* environment variables and/or a mounted config
# file (`--config /etc/webrtc-server/config.json`); flags after the image name.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No lifecycle scripts yet: `prepare` would build before the sources are here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/README.md /app/LICENSE ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/example ./example
COPY --from=build /app/docker/healthcheck.mjs ./docker/healthcheck.mjs
# The official image's unprivileged user (uid 1000).
USER node
# Signaling (HTTP/WebSocket), STUN/TURN; TURN relays use relayPorts (UDP).
EXPOSE 8080/tcp 3478/udp
# GET /healthz on the signaling port, with Node (the slim image has no curl).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["node", "docker/healthcheck.mjs"]
# SIGTERM drains: sockets closed with 1001, `left` and `leave` fire, exit 0
# (allow it up to 60 s: `docker stop -t 70`, compose `stop_grace_period`).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/src/cli.js"]
