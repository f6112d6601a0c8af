# tests/servers
