# A real Action Cable server for wsdoctor's tests: Rails' actioncable gem
# (Debian ruby-actioncable) served by puma on 127.0.0.1 at a free port, mounted
# at /cable with the in-process "async" adapter. Prints the port, then serves
# until killed.
#
# Usage: ruby actioncable_server.rb [beat_interval_seconds]
# The beat interval (Action Cable's BEAT_INTERVAL, 3 s in Rails) can be scaled
# down for tests. `?token=reject` is refused with reject_unauthorized_connection
# (the server sends {"type":"disconnect","reason":"unauthorized",...}).
require "logger"
require "action_cable"
require "puma"
require "puma/configuration"
require "puma/launcher"

beat = Float(ARGV[0] || "3")
ActionCable::Server::Connections.send(:remove_const, :BEAT_INTERVAL)
ActionCable::Server::Connections.const_set(:BEAT_INTERVAL, beat)

module TestCable
  class Connection < ActionCable::Connection::Base
    identified_by :token

    def connect
      self.token = request.params["token"] || "anonymous"
      reject_unauthorized_connection if token == "reject"
    end
  end

  class ChatChannel < ActionCable::Channel::Base
    def subscribed
      stream_from "chat"
    end
  end
end
Object.const_set(:ChatChannel, TestCable::ChatChannel)

server = ActionCable.server
server.config.cable = { "adapter" => "async" }
server.config.connection_class = -> { TestCable::Connection }
server.config.disable_request_forgery_protection = true
server.config.logger = Logger.new(nil)
server.config.worker_pool_size = 2

app = Rack::Builder.new do
  map("/cable") { run server }
end

conf = Puma::Configuration.new do |c|
  # Port 0: puma binds a free port itself, printed below once it is known;
  # a port probed here and bound later by puma could be taken in between.
  c.bind "tcp://127.0.0.1:0"
  c.app app
  c.threads 1, 4
  c.workers 0
  c.environment "production"
  c.log_requests false
  c.quiet
end
launcher = Puma::Launcher.new(conf, events: Puma::Events.new(File.open(File::NULL, "w"), File.open(File::NULL, "w")))
# on_booted runs once puma's listener is bound and its server thread runs.
launcher.events.on_booted do
  puts launcher.connected_ports.first
  $stdout.flush
end
launcher.run
