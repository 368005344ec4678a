"""The baseline: a plain Flask "hello world", served with the same gunicorn settings as stepgate."""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello() -> str:
    return "hello world"
