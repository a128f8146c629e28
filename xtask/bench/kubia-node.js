// The tutorial's original kubia v1 app (Node.js), as the book wrote it: the reference that
// `cargo xtask bench server` measures our Rust server against.
const http = require('http');
const os = require('os');

console.log("Kubia server starting...");

var handler = function(request, response) {
  console.log("Received request from " + request.connection.remoteAddress);
  response.writeHead(200);
  response.end("This is v1 running in pod " + os.hostname() + "\n");
};

var www = http.createServer(handler);
www.listen(process.env.PORT || 8080);
