// Starts one OpenSearch node in this JVM for Vestige's tests and benchmark.
// Usage: java -cp <classpath> Launcher.java BASE_PATH HTTP_PORT TRANSPORT_PORT
// Stops when standard input closes, so the node never outlives the Python process
// that started it (which polls /_cluster/health until the node is up).
import static org.codelibs.opensearch.runner.OpenSearchRunner.newConfigs;

import org.codelibs.opensearch.runner.OpenSearchRunner;

public class Launcher {
    public static void main(String[] args) throws Exception {
        String basePath = args[0];
        String httpPort = args[1];
        String transportPort = args[2];
        OpenSearchRunner runner = new OpenSearchRunner();
        runner.onBuild((number, settings) -> {
            settings.put("network.host", "127.0.0.1");
            settings.put("http.port", httpPort);
            settings.put("transport.port", transportPort);
            settings.put("discovery.type", "single-node");
            settings.put("action.auto_create_index", "false");
            settings.put("cluster.routing.allocation.disk.threshold_enabled", "false");
        }).build(newConfigs().basePath(basePath).numOfNode(1).clusterName("vestige-test"));
        runner.ensureYellow();
        while (System.in.read() >= 0) {
            // Wait for the parent to close our standard input.
        }
        runner.close();
        System.exit(0);
    }
}
