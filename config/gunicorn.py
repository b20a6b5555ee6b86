"""Gunicorn settings: the access log format leaves out the client address (%(h)s) on purpose."""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread"
accesslog = "-" if os.environ.get("ACCESS_LOG", "1") == "1" else None
access_log_format = '"%(r)s" %(s)s %(b)s %(M)sms'
forwarded_allow_ips = os.environ.get("TRUSTED_PROXIES", "127.0.0.1")
