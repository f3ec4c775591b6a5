// Runs Kafka's own kafka-acls (org.apache.kafka.tools.AclCommand) once per line of a file, in one
// JVM: deploy/kafka_acls.py's apply(), instead of a JVM start per command. Each line holds one
// command's arguments, separated by tabs. Run from source (java -cp '<kafka libs>/*' AclBatch.java
// FILE): nothing is compiled into the repository. A failed command ends the JVM with its exit code,
// as the command alone would.
public class AclBatch {
    public static void main(String[] args) throws Exception {
        for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of(args[0]))) {
            if (!line.isBlank()) {
                org.apache.kafka.tools.AclCommand.main(line.split("\t"));
            }
        }
    }
}
