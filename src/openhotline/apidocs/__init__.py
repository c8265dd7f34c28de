"""The API documentation page (Swagger UI served from /static, no CDN, no inline script)."""
