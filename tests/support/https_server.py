"""A Helm repository over HTTPS for the tests: the files of a directory, served with a
certificate signed by the test's private CA, behind Basic auth when given credentials.

Usage: https_server.py DIR CERT KEY [USER:PASSWORD]. Prints the port it listens on (127.0.0.1),
then serves until killed.
"""
import base64
import http.server
import os
import ssl
import sys


def main():
    root, cert, key = sys.argv[1:4]
    expected = None
    if len(sys.argv) > 4 and sys.argv[4]:
        expected = "Basic " + base64.b64encode(sys.argv[4].encode()).decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if expected and self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="charts"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path = os.path.normpath(os.path.join(root, self.path.lstrip("/")))
            if not path.startswith(os.path.abspath(root)) or not os.path.isfile(path):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = open(path, "rb").read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
