# One image for both processes; the compose file picks the command.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/tsconfig.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# tsconfig-paths (a runtime dependency of the start scripts) resolves the @app/* aliases inside dist.
RUN npm install --no-save tsconfig-paths@4
USER node
EXPOSE 3000
CMD ["npm", "run", "start:api"]
