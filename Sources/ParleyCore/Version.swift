public enum ParleyVersion {
    public static let current = "0.1.0"
}
