"""12348 智能法律服务助手 — Xinyang public legal service assistant."""
