// Heartbeat peer in the original stack of this API: Express + ioredis, a 2-process cluster.
// Same work per request as our heartbeat's fast path: x-api-key check, JSON body, required-field
// check, ZADD XX of the viewer's score in the stage's presence set, the spec's envelope.
// Env: PORT, REDIS_URL, API_SECRET_KEY, PEER_WORKERS (default 2), REDIS_KEY_PREFIX (default ivs).
"use strict";
const cluster = require("node:cluster");

const workers = Number(process.env.PEER_WORKERS || 2);

if (cluster.isPrimary) {
  for (let i = 0; i < workers; i += 1) cluster.fork();
  cluster.on("exit", (worker, code) => {
    if (code !== 0) console.error(`peer worker ${worker.process.pid} exited with ${code}`);
  });
  const stop = () => {
    for (const id in cluster.workers) cluster.workers[id].kill("SIGTERM");
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} else {
  const express = require("express");
  const Redis = require("ioredis");

  const redis = new Redis(process.env.REDIS_URL || "redis://127.0.0.1:6379/0");
  const keys = (process.env.API_SECRET_KEY || "dev-api-key").split(",").map((k) => k.trim());
  const prefix = `${process.env.REDIS_KEY_PREFIX || "ivs"}:presence:pres:`;
  const app = express();
  app.disable("x-powered-by");
  app.use(express.json({ limit: "64kb" }));

  const now = () => new Date().toISOString();
  const fail = (res, status, code, message, details) =>
    res.status(status).json({ success: false, error: { code, message, details }, timestamp: now() });

  app.get("/health", (req, res) => res.json({ success: true, data: { status: "healthy" }, timestamp: now() }));

  app.use((req, res, next) => {
    if (!keys.includes(req.get("x-api-key"))) return fail(res, 401, "UNAUTHORIZED", "未授權：缺少或無效的 API 金鑰");
    return next();
  });

  app.post("/api/viewer/heartbeat", async (req, res) => {
    const { userId, stageArn } = req.body || {};
    const missing = [];
    if (typeof userId !== "string" || !userId) missing.push("userId");
    if (typeof stageArn !== "string" || !stageArn) missing.push("stageArn");
    if (missing.length) return fail(res, 400, "VALIDATION_ERROR", "缺少必要參數", { missingFields: missing });
    try {
      const stageId = stageArn.slice(stageArn.lastIndexOf("/") + 1);
      await redis.zadd(prefix + stageId, "XX", Date.now() / 1000, userId);
      return res.json({
        success: true,
        data: { userId, stageArn, heartbeatUpdated: true },
        timestamp: now(),
        message: "心跳更新成功",
      });
    } catch (err) {
      return fail(res, 503, "SERVICE_UNAVAILABLE", "服務不可用");
    }
  });


  const port = Number(process.env.PORT || 3000);
  app.listen(port, "127.0.0.1");
  process.on("SIGTERM", () => process.exit(0));
}
