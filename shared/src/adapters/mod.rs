pub mod embedded;
pub mod aws;
pub mod maskinporten;
